"""The NS-N2N dock widget: pick a stack, inspect W_i live, train with a live loss plot and
preview, apply the model to other stacks.

The widget composes one panel per job and exposes them: ``input_panel``, ``mask_panel``,
``settings_panel``, ``training_panel``, ``model_panel``; they share ``state``
(:class:`~napari_nsn2n._napari.state.WidgetState`). The panels sit in a scroll area, so the dock
never grows taller than the window, whatever is expanded. Settings are remembered in napari's
preferences (``settings.Preferences``).

Threads: the LPF, the training run and model application each run in a napari ``thread_worker``
that drives one engine generator itself. Only the panels' slots, called in the main thread
through the workers' signals, touch layers and widgets. Closing the widget or the viewer stops a
run within about a second (``cleanup``).
"""

from __future__ import annotations

import contextlib
import time

import napari
from qtpy.QtCore import QEvent, QObject, QSize, QTimer
from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

from ..settings import Preferences, changed_signal
from ..state import WidgetState
from .common import connect_all, disconnect_all
from .input_panel import InputPanel
from .mask_panel import MaskPanel
from .model_panel import ModelPanel
from .training_panel import TrainingPanel
from .training_settings import TrainSettingsPanel

SAVE_DELAY_MS = 500  # settings are written this long after the last change
DOCK_WIDTH = 440  # the width napari gives the dock at first: room for the canvas on a laptop


class DenoiseWidget(QWidget):
    """Dock widget of the NS-N2N plugin (``napari_nsn2n._napari.widgets.dock:DenoiseWidget``)."""

    def __init__(self, napari_viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.state = WidgetState()
        self._closed = False
        self._main_window: QWidget | None = None  # the viewer's window, watched once docked
        self.settings_panel = TrainSettingsPanel()
        self.input_panel = InputPanel(napari_viewer, self.state)
        self.mask_panel = MaskPanel(napari_viewer, self.state, self.settings_panel)
        self.training_panel = TrainingPanel(
            napari_viewer, self.state, self.settings_panel, self.mask_panel
        )
        self.model_panel = ModelPanel(napari_viewer, self.state, self.settings_panel)

        content = QWidget()
        column = QVBoxLayout(content)
        column.setContentsMargins(6, 6, 6, 6)
        for panel in self.panels:
            column.addWidget(panel)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.addWidget(scroll)
        self.scroll_area = scroll

        self.preferences = Preferences(self.settings_panel.fields() + self.mask_panel.fields())
        self.preferences.restore()
        self.preferences.follow()
        self.state.lowpass = self.mask_panel.lowpass_settings()
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.save_settings)
        for item in self.preferences.fields:
            changed_signal(item.widget).connect(lambda *_: self._save_timer.start())

        dims = self.viewer.dims.events
        self._dims_links = [
            (e, self._on_dims_changed) for e in (dims.point, dims.order, dims.ndisplay)
        ]
        connect_all(self._dims_links)
        self.input_panel.refresh()
        self.state.events.all.emit(None)  # every panel sets its buttons for the first pick

    def sizeHint(self) -> QSize:
        return QSize(DOCK_WIDTH, super().sizeHint().height())

    @property
    def panels(self) -> tuple[QWidget, ...]:
        return (
            self.input_panel,
            self.mask_panel,
            self.settings_panel,
            self.training_panel,
            self.model_panel,
        )

    def save_settings(self) -> None:
        """Write the remembered values to napari's preferences now."""
        self.preferences.save()

    def _on_dims_changed(self, event=None) -> None:
        if self._closed:
            return
        self.mask_panel.on_view_changed()
        self.training_panel.preview.follow_view()

    # ============================================================================ closing
    @property
    def workers(self) -> list:
        panels = (self.mask_panel, self.training_panel, self.model_panel)
        return [panel.worker for panel in panels if panel.worker is not None]

    def cleanup(self, timeout_s: float = 1.0) -> None:
        """Stop every worker (training ends at the next step; its generator closes in the worker
        thread, freeing device memory), wait up to ``timeout_s`` and disconnect from the viewer."""
        if self._closed:
            return
        self.save_settings()
        self.preferences.unfollow()
        self._closed = True
        workers = self.workers
        for panel in (self.input_panel, self.mask_panel, self.training_panel, self.model_panel):
            panel.shutdown()
        deadline = time.monotonic() + timeout_s
        for worker in workers:
            while worker.is_running and time.monotonic() < deadline:
                time.sleep(0.01)
        self.input_panel.disconnect_viewer()
        disconnect_all(self._dims_links)
        if self._main_window is not None:
            with contextlib.suppress(RuntimeError):
                self._main_window.removeEventFilter(self)
            self._main_window = None

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
        if window is self or window is self._main_window or self._closed:
            return
        if self._main_window is not None:
            with contextlib.suppress(RuntimeError):
                self._main_window.removeEventFilter(self)
        self._main_window = window
        window.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self._main_window and event.type() == QEvent.Type.Close:
            self.cleanup()
        return False

    def closeEvent(self, event) -> None:
        self.cleanup()
        super().closeEvent(event)
