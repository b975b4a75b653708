"""The training panel: Train / Pause / Stop, progress (here and in napari's activity dock), the
status line, the live loss plot with the held-out curve, and the preview layer that shows the
slice on screen denoised while the run goes on."""

from __future__ import annotations

import threading
from typing import Any

import napari
from napari.utils.notifications import show_warning
from qtpy.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ...control import RunControl
from ...errors import NSN2NError
from ...events import (
    Finished,
    Preview,
    Recovered,
    StageProgress,
    TrainingStarted,
    TrainStep,
    Validation,
)
from ...pipeline import RunRequest
from ..state import WidgetState
from ..workers import report_error, train_worker
from .common import Activity, Panel, add_residual_layer, add_result_layer
from .common import wrapped_label as _label
from .loss_plot import LossPlot
from .mask_panel import MaskPanel
from .preview import PreviewLayer
from .run_status import RunStatus, format_time
from .training_settings import TrainSettingsPanel


class TrainingPanel(Panel):
    """Runs the engine on the picked stack in a ``train_worker`` and shows its events; the
    denoised result is added as ``"<source> denoised"`` and becomes the current model."""

    def __init__(
        self,
        viewer: napari.Viewer,
        state: WidgetState,
        settings: TrainSettingsPanel,
        masks: MaskPanel,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Training", viewer, state, parent)
        self.settings, self.masks = settings, masks
        self.worker = None
        self.control: RunControl | None = None
        self.abort: threading.Event | None = None
        self.preview = PreviewLayer(viewer)
        self._run_layer: Any = None
        self.status = RunStatus()
        self._activity = Activity("NS-N2N: training")
        self.last_finished: Finished | None = None
        self.recoveries: list[Recovered] = []
        self.n_previews = 0
        self.result_layer: Any = None
        self.residual_layer: Any = None

        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        self.train_button = QPushButton("Train")
        self.train_button.setToolTip("Train on the picked stack and denoise it")
        self.train_button.clicked.connect(self.start_training)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Hold training after the current step (Resume goes on)")
        self.pause_button.toggled.connect(self._on_pause_toggled)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("End training now and denoise with the model trained so far")
        self.stop_button.clicked.connect(self.stop_training)
        for button in (self.train_button, self.pause_button, self.stop_button):
            row.addWidget(button)
        lay.addLayout(row)
        self.run_progress = QProgressBar()
        self.run_progress.setValue(0)
        self.run_progress.hide()  # shown while a run goes on
        lay.addWidget(self.run_progress)
        self.status_label = _label("Idle")
        lay.addWidget(self.status_label)
        self.loss_plot = LossPlot()
        lay.addWidget(self.loss_plot)
        state.events.all.connect(self._update_buttons)

    @property
    def is_training(self) -> bool:
        return self.worker is not None

    @property
    def last_step(self) -> TrainStep | None:
        return self.status.last_step

    @property
    def last_validation(self) -> Validation | None:
        return self.status.last_validation

    @property
    def started(self) -> TrainingStarted | None:
        return self.status.started

    # ------------------------------------------------------------------------- starting
    def start_training(self) -> None:
        state = self.state
        if self.is_training or not state.ready:
            return
        try:
            config = self.settings.train_config()
        except NSN2NError as exc:
            self.status_label.setText(f"Invalid training settings: {exc}")
            return
        layer, axis = state.layer, state.axis
        self._run_layer = layer
        self.masks.on_view_changed()
        self.preview.start(layer, axis)
        self.control, self.abort = RunControl(), threading.Event()
        self.loss_plot.clear()
        self.last_finished = None
        self.n_previews, self.recoveries, self.result_layer = 0, [], None
        self.status.reset()
        request = RunRequest(
            layer.data,
            threshold="auto" if state.threshold is None else state.threshold,
            config=config,
            axis=axis,
            lowpass=state.lowpass,
            differences=state.differences,
            preview_index=self.preview.index,
            preview_every=self.settings.preview_every.value(),
            tta=self.settings.tta.isChecked(),
            rician=self.settings.rician.isChecked(),
            keep_structure=self.settings.keep_structure.isChecked(),
        )
        worker = train_worker(request, self.control, self.abort)
        worker.yielded.connect(self.on_train_event)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_training_finished)
        self.worker = worker
        self.status_label.setText("Starting…")
        self.run_progress.setValue(0)
        self.run_progress.show()
        state.training = True
        worker.start()

    # -------------------------------------------------------------------------- control
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
        else:
            self.control.resume()
            self.status.resumed()
        self._show_status()

    def stop_training(self) -> None:
        if self.control is not None and self.is_training:
            self.control.stop()
            self.status_label.setText("Stopping: denoising with the model trained so far…")

    # ----------------------------------------------------------------------- run events
    def on_train_event(self, event) -> None:
        """Show one engine event of the run (the worker's ``yielded`` slot)."""
        if self.closed:
            return
        if isinstance(event, TrainStep):
            self.status.step(event, paused=self.control is not None and self.control.paused)
            self.loss_plot.append(
                event.step,
                {"loss": event.loss, "recon": event.recon, "rc": event.rc, "ic": event.ic},
            )
            self._set_progress(event.step, event.total_steps, "training %v/%m steps")
            self._show_status()
        elif isinstance(event, Validation):
            self.status.last_validation = event
            self.loss_plot.add_validation(event.step, event.loss, event.best_step)
            self._show_status()
        elif isinstance(event, Preview):
            if self.preview.show(event):
                self.n_previews += 1
        elif isinstance(event, StageProgress):
            self._set_progress(event.done, event.total, f"{event.stage} %v/%m")
        elif isinstance(event, TrainingStarted):
            self.status.started = event
            self.status_label.setText(
                f"Training {event.epochs} epochs × {event.steps_per_epoch} steps on "
                f"{event.n_pairs} pairs · {event.device}"
            )
        elif isinstance(event, Recovered):
            self.recoveries.append(event)
            show_warning(f"NS-N2N: {event.message()}")
        elif isinstance(event, Finished):
            self._on_result(event)

    def _show_status(self) -> None:
        if self.is_training and self.last_step is not None:
            paused = self.control is not None and self.control.paused
            self.status_label.setText(self.status.text(paused))

    def _set_progress(self, done: int, total: int, fmt: str) -> None:
        self.run_progress.setMaximum(total)
        self.run_progress.setValue(done)
        self.run_progress.setFormat(fmt)
        self._activity.description = f"NS-N2N: {fmt.split(' %')[0]}"
        self._activity.update(done, total)

    def _on_result(self, event: Finished) -> None:
        self.last_finished = event
        source = self._run_layer
        if self.settings.residual.isChecked():
            self.residual_layer = add_residual_layer(self.viewer, source, event.denoised)
        name = f"{source.name} denoised"
        result = self.preview.become_result(event.denoised, name)
        if result is None:
            result = add_result_layer(self.viewer, source, event.denoised, name)
        self.result_layer = result
        self.preview.drop()
        self.masks.hide_mask()
        meta = event.model.meta
        how = "stopped early" if event.stopped_early else "done"
        if meta.get("stopped_by_rule_at"):
            how = f"stopped by the held-out rule (best weights of step {self._best_step()})"
        steps = self.last_step.step if self.last_step else 0
        sigma = meta.get("rician_sigma")
        rician = f" · Rician bias removed (σ {sigma:.3g})" if sigma else ""
        rc = (
            f" · λ RC {event.model.config.lambda_rc:g} (auto)" if meta.get("lambda_rc_auto") else ""
        )
        device = self.started.device if self.started else ""
        self.status_label.setText(
            f"{how} in {format_time(event.elapsed_s)} · {steps} steps · {device} → "
            f"'{result.name}'{rc}{rician}"
        )
        self.state.model_origin = f"trained on '{source.name}'"
        self.state.model = event.model

    def _best_step(self) -> int | str:
        return self.last_validation.best_step if self.last_validation else "?"

    def _on_error(self, exc: Exception) -> None:
        """Reported once; the panel says what failed."""
        report_error(exc)
        if not self.closed:
            self.status_label.setText(f"Training failed: {exc}")

    def _on_training_finished(self) -> None:
        self.worker = self.control = None
        self._run_layer = None
        self._activity.close()
        if self.closed:
            return
        if self.last_finished is None:
            self.preview.drop()
        self.run_progress.hide()
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(False)
        self.pause_button.setText("Pause")
        self.pause_button.blockSignals(False)
        self.state.training = False

    # ------------------------------------------------------------------------------ state
    def _update_buttons(self, *args) -> None:
        if self.closed:
            return
        state, training = self.state, self.is_training
        self.train_button.setEnabled(state.ready and not training and not state.lpf_running)
        self.train_button.setToolTip(state.problem or "Train on the picked stack and denoise it")
        self.pause_button.setEnabled(training)
        self.stop_button.setEnabled(training)

    def shutdown(self) -> None:
        """End a run at its next step, without the final inference (see ``train_worker``)."""
        super().shutdown()
        if self.abort is not None:
            self.abort.set()
        if self.control is not None:
            self.control.resume()  # not stop(): that would run the final inference first
        self._activity.close()
