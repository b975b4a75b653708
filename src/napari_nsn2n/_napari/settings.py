"""The widget's remembered values, kept in napari's own preferences (Preferences > NS-N2N).

The manifest declares them (``contributions.configurations`` in napari.yaml: the categories
"training", "running" and "masks"); napari stores them in its settings folder, shows them in its
Preferences dialog and saves every change. A numeric training value of -1 (a string "preset")
means "the preset's", so a machine that gains a GPU gets the GPU preset for every value the user
never changed. The threshold is not remembered: it belongs to one stack.

Without napari's plugin settings (an older napari, or the plugin not registered), nothing is
remembered and the widget opens with the preset.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from qtpy.QtWidgets import QCheckBox, QComboBox, QWidget

PLUGIN = "napari-nsn2n"
PRESET_NUMBER, PRESET_TEXT = -1, "preset"


def plugin_settings() -> Any | None:
    """napari's settings object of this plugin, or None where napari offers none."""
    try:
        from napari.settings import get_plugin_settings

        return get_plugin_settings(PLUGIN)
    except (ImportError, KeyError):
        return None


def field_value(widget: QWidget) -> Any:
    """The value of a settings widget: a combo box's text, a check box's state, else
    ``value()``."""
    if isinstance(widget, QComboBox):
        return widget.currentText()
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    return widget.value()


def set_field_value(widget: QWidget, value: Any) -> None:
    """Show ``value`` in a settings widget; an unknown combo item or a wrong type is ignored."""
    if isinstance(widget, QComboBox):
        if value is not None and widget.findText(str(value)) >= 0:
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


class Field:
    """One remembered value: ``widget`` shows it, ``category.key`` stores it; ``preset`` (if
    given) is the value that is stored as "the preset's"; ``to_stored`` / ``from_stored``
    convert between what the widget shows and what the preferences hold."""

    def __init__(
        self,
        widget: QWidget,
        category: str,
        key: str,
        preset: Any = None,
        to_stored: Callable[[Any], Any] = lambda v: v,
        from_stored: Callable[[Any], Any] = lambda v: v,
    ) -> None:
        self.widget, self.category, self.key, self.preset = widget, category, key, preset
        self.to_stored, self.from_stored = to_stored, from_stored

    @property
    def sentinel(self) -> Any:
        return PRESET_TEXT if isinstance(self.preset, str) else PRESET_NUMBER

    def stored_value(self) -> Any:
        """What the preferences hold for the widget's value (the sentinel at the preset)."""
        value = field_value(self.widget)
        if self.preset is not None and _same(value, self.preset):
            return self.sentinel
        return self.to_stored(value)

    def show(self, stored: Any) -> None:
        """Put a stored value into the widget (the preset for the sentinel)."""
        if self.preset is not None and stored == self.sentinel:
            set_field_value(self.widget, self.preset)
        else:
            set_field_value(self.widget, self.from_stored(stored))


class Preferences:
    """Keeps ``fields`` and napari's plugin settings equal in both directions."""

    def __init__(self, fields: list[Field]) -> None:
        self.fields = fields
        self.store = plugin_settings()
        self._writing = False

    def restore(self) -> None:
        """Show the stored values in the widgets."""
        if self.store is None:
            return
        for item in self.fields:
            stored = getattr(getattr(self.store, item.category), item.key, None)
            if stored is not None:
                item.show(stored)

    def save(self) -> None:
        """Store every widget's value (napari writes the file when a value changes)."""
        if self.store is None:
            return
        self._writing = True
        try:
            for item in self.fields:
                category = getattr(self.store, item.category)
                value = item.stored_value()
                if getattr(category, item.key) != value:
                    with contextlib.suppress(ValueError):  # outside the declared range
                        setattr(category, item.key, value)
        finally:
            self._writing = False

    def follow(self) -> None:
        """Show values changed in napari's Preferences dialog while the widget is open."""
        if self.store is None:
            return
        for name in {item.category for item in self.fields}:
            getattr(self.store, name).events.connect(self._on_store_changed)

    def unfollow(self) -> None:
        if self.store is None:
            return
        for name in {item.category for item in self.fields}:
            with contextlib.suppress(TypeError, ValueError, RuntimeError):
                getattr(self.store, name).events.disconnect(self._on_store_changed)

    def _on_store_changed(self, event=None) -> None:
        if not self._writing:
            self.restore()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))
    return a == b
