"""Remembering the widget's settings between sessions with ``QSettings``.

By default the values live in the user's Qt settings store under ("napari-nsn2n", "DenoiseWidget").
Setting the environment variable ``NAPARI_NSN2N_SETTINGS`` to a file path stores them in that INI
file instead (the tests use this so they never touch the user's configuration).
"""

from __future__ import annotations

import json
import os
from typing import Any

from qtpy.QtCore import QSettings

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
