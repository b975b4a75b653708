"""The training panel: Train / Pause / Stop, progress, status line, live loss plot and the
preview layer that shows the shown slice denoised while the run goes on."""

from __future__ import annotations

import threading
from collections.abc import Callable

import napari
import numpy as np
from napari.utils.notifications import show_error, show_warning
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...control import RunControl
from ...events import (
    EpochEnd,
    Finished,
    Preview,
    Recovered,
    StageProgress,
    TrainingStarted,
    TrainStep,
)
from ..workers import PreviewIndex, train_worker
from .common import NEED_LAYER, Panel, add_result_layer, placement, remove_layer
from .input_panel import InputPanel
from .loss_plot import LossPlot
from .mask_panel import MaskPanel
from .training_settings import TrainSettingsPanel

PREVIEW_LAYER = "denoised (preview)"


def _fmt_time(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class TrainingPanel(Panel):
    """Runs the engine on the picked stack in a ``train_worker`` and shows its events; the
    denoised result is added as ``"<source> denoised"``."""

    starting = Signal()  # the settings are valid and a run is about to start
    trained = Signal(object)  # the finished run's ModelBundle

    def __init__(
        self,
        viewer: napari.Viewer,
        source: InputPanel,
        masks: MaskPanel,
        settings: TrainSettingsPanel,
        on_error: Callable[[Exception], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Training", viewer, source, on_error, parent)
        self.masks = masks
        self.settings = settings
        self.worker = None
        self.control: RunControl | None = None
        self.abort: threading.Event | None = None
        self._preview_index = PreviewIndex(0)
        self._run_layer = None  # the image layer being trained on
        self._run_axis = 0
        self._preview_layer = None
        self.last_finished: Finished | None = None
        self.last_step: TrainStep | None = None
        self.recoveries: list[Recovered] = []  # rollbacks of the divergence guard in this run
        self.n_previews = 0
        self._device_name = ""
        self._epochs = 0  # of the running training (min_steps may raise the setting)

        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        self.train_button = QPushButton("Train")
        self.train_button.clicked.connect(self.start_training)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self._on_pause_toggled)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("End training now and denoise with the model trained so far")
        self.stop_button.clicked.connect(self.stop_training)
        for button in (self.train_button, self.pause_button, self.stop_button):
            row.addWidget(button)
        lay.addLayout(row)
        self.run_progress = QProgressBar()
        self.run_progress.setValue(0)
        lay.addWidget(self.run_progress)
        self.status_label = QLabel("Idle")
        self.status_label.setWordWrap(True)
        lay.addWidget(self.status_label)
        self.loss_plot = LossPlot()
        lay.addWidget(self.loss_plot)

    @property
    def is_training(self) -> bool:
        return self.worker is not None

    def start_training(self) -> None:
        if self.is_training:
            return
        layer, axis = self.source.layer, self.source.axis
        if layer is None or axis is None:
            show_error(NEED_LAYER)
            return
        try:
            config = self.settings.train_config()
        except Exception as exc:
            show_error(str(exc))
            return
        self.starting.emit()
        self._run_layer, self._run_axis = layer, axis
        self.masks.on_view_changed()
        self.update_preview_index()
        self.control = RunControl()
        self.abort = threading.Event()
        self.loss_plot.clear()
        self.last_step, self.last_finished, self.n_previews = None, None, 0
        self.recoveries = []
        self._make_preview_layer(layer)
        worker = train_worker(
            layer.data,
            float(self.masks.threshold_slider.value()),
            config,
            axis,
            self.masks.differences,
            self.masks.lowpass_settings(),
            self.control,
            self._preview_index,
            self.settings.preview_every.value(),
            self.abort,
            self.settings.tta.isChecked(),
            self.settings.rician.isChecked(),
        )
        worker.yielded.connect(self._on_train_event)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_training_finished)
        self.worker = worker
        self.status_label.setText("Starting…")
        worker.start()
        self.changed.emit()

    def _set_preview_layer(self, layer) -> None:
        """Replace the preview layer (None: drop it) and keep it out of the layer picker."""
        remove_layer(self.viewer, self._preview_layer)
        self._preview_layer = self.source.hidden = layer

    def _make_preview_layer(self, layer) -> None:
        low = float(layer.contrast_limits[0])
        self._set_preview_layer(None)
        preview = self.viewer.add_image(
            np.full(layer.data.shape, low, dtype=np.float32),
            name=PREVIEW_LAYER,
            colormap=layer.colormap.name,
            contrast_limits=tuple(layer.contrast_limits),
            **placement(layer),
        )
        self._set_preview_layer(preview)
        self.source.refresh()
        self.viewer.layers.selection.active = layer

    def pause_training(self) -> None:
        self.pause_button.setChecked(True)

    def resume_training(self) -> None:
        self.pause_button.setChecked(False)

    def _on_pause_toggled(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        if self.control is None:
            return
        if paused:
            self.control.pause()
            self.status_label.setText(self.status_label.text() + " — paused")
        else:
            self.control.resume()

    def stop_training(self) -> None:
        if self.control is not None and self.is_training:
            self.control.stop()
            self.status_label.setText("Stopping: denoising with the model trained so far…")

    def update_preview_index(self) -> None:
        """Preview the slice on screen (of the run's layer while training)."""
        training = self.worker is not None
        layer = self._run_layer if training else self.source.layer
        axis = self._run_axis if training else self.source.axis
        if layer is None or axis is None:
            return
        position = np.asarray(layer.world_to_data(self.viewer.dims.point))
        if axis < len(position):
            self._preview_index.index = int(
                np.clip(np.round(position[axis]), 0, layer.data.shape[axis] - 1)
            )

    # ----------------------------------------------------------------------- run events
    def _on_train_event(self, event) -> None:
        if self.closed:
            return
        if isinstance(event, TrainStep):
            self.last_step = event
            self.loss_plot.append(
                event.step,
                {"loss": event.loss, "recon": event.recon, "rc": event.rc, "ic": event.ic},
            )
            self._set_progress(event.step, event.total_steps, "training %v/%m")
            self.status_label.setText(
                f"step {event.step}/{event.total_steps} · epoch {event.epoch}/"
                f"{self._epochs} · loss {event.loss:.3g} · "
                f"ETA {_fmt_time(event.eta_s)} · {self._device_name}"
            )
        elif isinstance(event, Preview):
            self._show_preview(event)
        elif isinstance(event, StageProgress):
            self._set_progress(event.done, event.total, f"{event.stage} %v/%m")
        elif isinstance(event, TrainingStarted):
            self._device_name = event.device
            self._epochs = event.epochs
            self.status_label.setText(
                f"Training {event.epochs} epochs × {event.steps_per_epoch} steps on "
                f"{event.n_pairs} pairs · {event.device}"
            )
        elif isinstance(event, EpochEnd):
            pass  # the status line already shows the epoch
        elif isinstance(event, Recovered):
            self.recoveries.append(event)
            show_warning(f"NS-N2N: {event.message()}")
        elif isinstance(event, Finished):
            self._on_result(event)

    def _set_progress(self, done: int, total: int, fmt: str) -> None:
        self.run_progress.setMaximum(total)
        self.run_progress.setValue(done)
        self.run_progress.setFormat(fmt)

    def _show_preview(self, event: Preview) -> None:
        layer = self._preview_layer
        if layer is None or layer not in self.viewer.layers:
            return
        ndim = layer.data.ndim
        key: list = [slice(None)] * ndim
        key[self._run_axis] = event.index
        if ndim == 4:  # the other leading axis holds volumes: preview the first
            volume_axis = next((a for a in range(ndim - 2) if a != self._run_axis), None)
            if volume_axis is not None:
                key[volume_axis] = 0
        layer.data[tuple(key)] = event.image
        layer.refresh()
        self.n_previews += 1

    def _on_result(self, event: Finished) -> None:
        self.last_finished = event
        source = self._run_layer
        name = f"{source.name} denoised"
        add_result_layer(self.viewer, source, event.denoised, name)
        self._set_preview_layer(None)
        self.masks.hide_mask()
        how = "stopped early" if event.stopped_early else "done"
        steps = self.last_step.step if self.last_step else 0
        sigma = event.model.meta.get("rician_sigma")
        rician = f" · Rician bias removed (σ {sigma:.3g})" if sigma else ""
        auto_rc = event.model.meta.get("lambda_rc_auto")
        rc = f" · λ RC {event.model.config.lambda_rc:g} (auto)" if auto_rc else ""
        self.status_label.setText(
            f"{how} in {_fmt_time(event.elapsed_s)} · {steps} steps · "
            f"{self._device_name} → '{name}'{rc}{rician}"
        )
        self.trained.emit(event.model)

    def _on_training_finished(self) -> None:
        self.worker = None
        self.control = None
        self._run_layer = None
        if self.closed:
            return
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(False)
        self.pause_button.setText("Pause")
        self.pause_button.blockSignals(False)
        self.source.refresh()
        self.changed.emit()

    # ------------------------------------------------------------------------------ state
    def update_buttons(self, ready: bool, lpf_running: bool) -> None:
        training = self.is_training
        self.train_button.setEnabled(ready and not training and not lpf_running)
        self.pause_button.setEnabled(training)
        self.stop_button.setEnabled(training)

    def shutdown(self) -> None:
        """End a run at its next step, without the final inference (see ``train_worker``)."""
        super().shutdown()
        if self.abort is not None:
            self.abort.set()
        if self.control is not None:
            self.control.resume()  # not stop(): that would run the final inference first
