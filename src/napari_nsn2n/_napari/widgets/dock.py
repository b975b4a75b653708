"""The NS-N2N dock widget: pick a stack, inspect W_i live, train with a live loss plot and preview.

The widget composes one panel per job (``w_input``, ``w_mask_panel``, ``w_train_settings``,
``w_training_panel``, ``w_model_panel``), keeps their buttons consistent, saves their settings
between sessions, and forwards the panels' widgets and actions as its own attributes
(``widget.threshold_slider``, ``widget.start_training()``, ``widget.bundle``, …).

Threads: the LPF, the training run and model application each run in a napari ``thread_worker``
that drives one engine generator itself (see ``w_worker``). Only the panels' slots, called in the
main thread through ``worker.yielded`` / ``returned``, touch layers and widgets. Closing the
widget or the viewer stops a run within about a second (``cleanup``).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import napari
from napari.utils.notifications import show_error
from qtpy.QtCore import QEvent, QObject, QTimer
from qtpy.QtWidgets import QVBoxLayout, QWidget

from ...models import ModelBundle
from .. import settings as w_settings
from .common import connect_all, disconnect_all, layer_geometry, result_layer_kwargs
from .input_panel import InputPanel
from .mask_panel import MASK_LAYER, THRESHOLD_MAX, MaskPanel
from .model_panel import ModelPanel
from .training_panel import PREVIEW_LAYER, TrainingPanel
from .training_settings import TrainSettingsPanel

__all__ = [
    "MASK_LAYER",
    "PREVIEW_LAYER",
    "THRESHOLD_MAX",
    "DenoiseWidget",
    "layer_geometry",
    "result_layer_kwargs",
]


class _Forward:
    """A widget attribute that reads (and writes) the attribute ``name`` of one of its panels."""

    def __init__(self, panel: str, name: str) -> None:
        self.panel, self.name = panel, name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        return self if obj is None else getattr(getattr(obj, self.panel), self.name)

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(getattr(obj, self.panel), self.name, value)


# panel attribute -> names it provides to the widget ("widget_name=panel_name" when they differ)
_FORWARDED = {
    "source_panel": "layer_combo axis_combo scale_label layer axis select_layer",
    "mask_panel": (
        "h_factor stabilize lpf_button lpf_cancel lpf_progress threshold_slider suggest_button "
        "fraction_label differences lowpass_settings start_lowpass cancel_lowpass "
        "suggest_threshold _cache=cache _mask=mask _lpf_worker=worker _source_key=source_key "
        "_show_cached_mask=show_cached"
    ),
    "settings_panel": (
        "epochs min_steps lr lr_schedule batch patch lambda_rc lambda_ic seed base_channels "
        "device_combo preview_every tta rician train_config"
    ),
    "training_panel": (
        "train_button pause_button stop_button run_progress status_label loss_plot is_training "
        "last_step last_finished n_previews start_training pause_training resume_training "
        "stop_training _train_worker=worker _control=control _abort=abort"
    ),
    "model_panel": (
        "save_button load_button apply_button model_label bundle save_model load_model "
        "apply_model _apply_worker=worker"
    ),
}


class DenoiseWidget(QWidget):
    """Dock widget of the NS-N2N plugin (``napari_nsn2n._napari.widget:DenoiseWidget``)."""

    def __init__(self, napari_viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self._closed = False
        self._qt_window = None  # the viewer's main window, watched once we are docked
        self.source_panel = InputPanel(napari_viewer)
        self.mask_panel = MaskPanel(napari_viewer, self.source_panel, self._on_worker_error)
        self.settings_panel = self.settings_box = TrainSettingsPanel()
        self.mask_panel.train_config = self.settings_panel.train_config
        self.training_panel = TrainingPanel(
            napari_viewer,
            self.source_panel,
            self.mask_panel,
            self.settings_panel,
            self._on_worker_error,
        )
        self.model_panel = ModelPanel(
            napari_viewer,
            self.source_panel,
            lambda: self.settings_panel.device,
            self.settings_panel.tta.isChecked,
            self.settings_panel.rician.isChecked,
            self.training_panel.status_label.setText,
            self._on_worker_error,
        )
        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        for panel in self._panels:
            root.addWidget(panel)
        root.addStretch(1)
        for panel in (self.mask_panel, self.training_panel, self.model_panel):
            panel.changed.connect(self._update_buttons)
        self.source_panel.changed.connect(self._on_source_changed)
        self.training_panel.starting.connect(self.save_settings)
        self.training_panel.trained.connect(self._on_trained)

        self._fields = {**self.mask_panel.fields(), **self.settings_panel.fields()}
        self._restore_settings()
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(500)
        self._save_timer.timeout.connect(self.save_settings)
        for field in self._fields.values():
            w_settings.changed_signal(field).connect(lambda *_: self._save_timer.start())

        dims = self.viewer.dims.events
        self._dims_links = [
            (e, self._on_dims_changed) for e in (dims.point, dims.order, dims.ndisplay)
        ]
        connect_all(self._dims_links)
        self.source_panel.refresh()
        self._update_buttons()

    @property
    def _panels(self) -> tuple[QWidget, ...]:
        return (
            self.source_panel,
            self.mask_panel,
            self.settings_panel,
            self.training_panel,
            self.model_panel,
        )

    # ============================================================================ settings
    def settings(self) -> dict[str, Any]:
        """The values saved between sessions."""
        values = {key: w_settings.field_value(field) for key, field in self._fields.items()}
        values["settings_expanded"] = self.settings_box.isExpanded()
        return values

    def save_settings(self) -> None:
        with contextlib.suppress(Exception):
            w_settings.save_settings(self.settings())

    def _restore_settings(self) -> None:
        values = w_settings.load_settings()
        for key, field in self._fields.items():
            if key in values:
                w_settings.set_field_value(field, values[key])
        if values.get("settings_expanded"):
            self.settings_box.expand(animate=False)

    # ============================================================================ wiring
    def _on_source_changed(self) -> None:
        self.mask_panel.show_cached()
        self._update_buttons()

    def _on_dims_changed(self, event=None) -> None:
        if self._closed:
            return
        self.mask_panel.on_view_changed()
        self.training_panel.update_preview_index()

    def _on_trained(self, bundle: ModelBundle) -> None:
        self.model_panel.set_bundle(bundle, "trained")

    def _on_worker_error(self, exc: Exception) -> None:
        show_error(f"NS-N2N: {exc}")
        if not self._closed:
            self.status_label.setText(f"Error: {exc}")

    def _update_buttons(self) -> None:
        if self._closed:
            return
        ready = self.layer is not None and self.axis is not None
        self.mask_panel.update_buttons(ready, training=self.is_training)
        self.training_panel.update_buttons(ready, lpf_running=self._lpf_worker is not None)
        self.model_panel.update_buttons(ready)

    # ============================================================================ closing
    @property
    def workers(self) -> list:
        return [w for w in (self._lpf_worker, self._train_worker, self._apply_worker) if w]

    def cleanup(self, timeout_s: float = 1.0) -> None:
        """Stop every worker (training ends at the next step; its generator closes in the worker
        thread, freeing device memory), wait up to ``timeout_s`` and disconnect from the viewer."""
        if self._closed:
            return
        self.save_settings()
        self._closed = True
        for panel in (self.mask_panel, self.training_panel, self.model_panel):
            panel.shutdown()
        deadline = time.monotonic() + timeout_s
        for worker in self.workers:
            while worker.is_running and time.monotonic() < deadline:
                time.sleep(0.01)
        self.source_panel.disconnect_viewer()
        disconnect_all(self._dims_links)
        if self._qt_window is not None:
            with contextlib.suppress(RuntimeError):
                self._qt_window.removeEventFilter(self)
            self._qt_window = None

    def event(self, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.ParentChange, QEvent.Type.Show):
            self._watch_main_window()
            # the dock is put into the main window after it adopts us: look again later
            QTimer.singleShot(0, self._watch_main_window)
        return super().event(event)

    def _watch_main_window(self) -> None:
        """Closing the viewer's main window (which napari does on ``viewer.close()``) must stop
        our workers: watch that window's Close event once the dock puts us inside it."""
        window = self.window()
        if window is self or window is self._qt_window or self._closed:
            return
        if self._qt_window is not None:
            with contextlib.suppress(RuntimeError):
                self._qt_window.removeEventFilter(self)
        self._qt_window = window
        window.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self._qt_window and event.type() == QEvent.Type.Close:
            self.cleanup()
        return False

    def closeEvent(self, event) -> None:
        self.cleanup()
        super().closeEvent(event)


for _panel, _names in _FORWARDED.items():
    for _entry in _names.split():
        _name, _, _target = _entry.partition("=")
        setattr(DenoiseWidget, _name, _Forward(_panel, _target or _name))
del _panel, _names, _entry, _name, _target
