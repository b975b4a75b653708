"""Remembering the widget's settings between sessions with ``QSettings``.

By default the values live in the user's Qt settings store under ("napari-nsn2n", "DenoiseWidget").
Setting the environment variable ``NAPARI_NSN2N_SETTINGS`` to a file path stores them in that INI
file instead (the tests use this so they never touch the user's configuration).
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from qtpy.QtCore import QSettings
from qtpy.QtWidgets import QCheckBox, QComboBox, QWidget

ENV_VAR = "NAPARI_NSN2N_SETTINGS"
ORGANISATION, APPLICATION = "napari-nsn2n", "DenoiseWidget"
KEY = "settings_json"


def _store() -> QSettings:
    path = os.environ.get(ENV_VAR)
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(ORGANISATION, APPLICATION)


def load_settings() -> dict[str, Any]:
    """The saved settings as a dict ({} when none or unreadable)."""
    raw = _store().value(KEY, "")
    if not raw:
        return {}
    try:
        values = json.loads(str(raw))
    except ValueError:
        return {}
    return values if isinstance(values, dict) else {}


def save_settings(values: dict[str, Any]) -> None:
    store = _store()
    store.setValue(KEY, json.dumps(values, sort_keys=True))
    store.sync()


def field_value(widget: QWidget) -> Any:
    """The saved value of a settings widget: a combo box's text, a check box's state, else
    ``value()``."""
    if isinstance(widget, QComboBox):
        return widget.currentText()
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    return widget.value()


def set_field_value(widget: QWidget, value: Any) -> None:
    """Restore one saved value; a value of the wrong type or an unknown combo item is ignored."""
    if isinstance(widget, QComboBox):
        if value and widget.findText(str(value)) >= 0:
            widget.setCurrentText(str(value))
        return
    if isinstance(widget, QCheckBox):
        if isinstance(value, bool):
            widget.setChecked(value)
        return
    with contextlib.suppress(TypeError, ValueError):
        widget.setValue(type(widget.value())(value))


def changed_signal(widget: QWidget):
    """The signal a settings widget emits when its value changes."""
    if isinstance(widget, QComboBox):
        return widget.currentIndexChanged
    if isinstance(widget, QCheckBox):
        return widget.toggled
    return widget.valueChanged
