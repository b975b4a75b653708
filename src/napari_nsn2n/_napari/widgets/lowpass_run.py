"""The LPF of one stack in a worker: start, cancel, progress (also in napari's activity dock),
and a stop with a message when the stack is removed from the viewer meanwhile."""

from __future__ import annotations

from typing import Any

import napari
from qtpy.QtCore import QObject, Signal

from ...control import RunControl
from ...events import StageProgress
from ...method.lowpass import LowpassSettings
from ...method.masks import PairDifferences
from ..state import same_layer
from ..workers import lowpass_worker, report_error
from .common import Activity


class LowpassRun(QObject):
    """Runs ``lowpass_worker`` for one cache key at a time (main-thread slots only)."""

    progressed = Signal(int, int)  # slices done, total
    delivered = Signal(object, object)  # cache key, PairDifferences
    ended = Signal(str)  # "" after a result, else why there is none

    def __init__(self, viewer: napari.Viewer, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.worker = None
        self._control: RunControl | None = None
        self._key: tuple | None = None
        self._layer: Any = None
        self._message = ""
        self._closed = False
        self._activity = Activity("NS-N2N: low-pass filtering")
        viewer.layers.events.removed.connect(self._on_layer_removed)

    def start(self, key: tuple, layer: Any, axis: int, settings: LowpassSettings) -> None:
        self._key, self._layer, self._message = key, layer, ""
        self._control = RunControl()
        worker = lowpass_worker(layer.data, axis, settings, self._control)
        worker.yielded.connect(self._on_event)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        worker.start()

    def cancel(self, message: str = "LPF cancelled.") -> bool:
        """Stop after the current slice; False when nothing runs."""
        if self.worker is None or self._control is None:
            return False
        self._control.stop()
        self._message = message
        return True

    def _on_event(self, item) -> None:
        if self._closed:
            return
        if isinstance(item, StageProgress):
            self.progressed.emit(item.done, item.total)
            self._activity.update(item.done, item.total)
        elif isinstance(item, PairDifferences):
            self.delivered.emit(self._key, item)

    def _on_error(self, exc: Exception) -> None:
        """Reported once; the panel says what failed."""
        report_error(exc)
        self._message = f"LPF failed: {exc}"

    def _on_finished(self) -> None:
        self.worker, self._layer = None, None
        self._activity.close()
        if not self._closed:
            self.ended.emit(self._message)

    def _on_layer_removed(self, event) -> None:
        """The stack whose LPF runs was removed: stop it and say so."""
        if self.worker is None or self._layer is None:
            return
        if not any(same_layer(layer, self._layer) for layer in self.viewer.layers):
            message = f"LPF cancelled: '{self._layer.name}' was removed from the viewer."
            self.cancel(message)
            self.ended.emit(message)  # at once; the worker ends after its current slice

    def shutdown(self) -> None:
        self._closed = True
        self.viewer.layers.events.removed.disconnect(self._on_layer_removed)
        if self._control is not None:
            self._control.stop()
        self._activity.close()
