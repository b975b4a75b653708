"""The model panel: save / load the current model and apply it to a layer, with progress, cancel
and the choice of intensity scaling.

A model maps the [0, 1] scale of its training stack. A stack in the same units (another CT in
HU) is best scaled like the training stack; a stack in other units (an MRI for a CT model) must
be scaled by its own min / max, or every value lands outside what the network saw. "auto"
decides from the robust intensity ranges of both stacks (the training stack's is kept in the
model) and the panel says what it chose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import napari
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...control import RunControl
from ...events import Finished, StageProgress
from ...models import ModelBundle, load_model, save_model
from ...pipeline import ApplyRequest
from ...pipeline.run import intensity_range
from ...stack import SliceLayout
from ..state import WidgetState
from ..workers import apply_worker
from .common import Activity, Panel, add_result_layer, wrapped_label
from .training_settings import TrainSettingsPanel

MODEL_FILTER = "NS-N2N model (*.pt)"
SCALINGS = ("auto", "training stack's", "this stack's")
# ranges overlapping less than this (intersection over union) count as other units; a heuristic:
# the same modality at another dose or contrast overlaps far more, another modality far less
SAME_UNITS_OVERLAP = 0.5


class LayerSlices:
    """The slices of a layer's data along a slice axis, read one at a time (for
    ``intensity_range``)."""

    def __init__(self, data: Any, axis: int) -> None:
        self.data, self.layout = data, SliceLayout(tuple(data.shape), axis)

    def __len__(self) -> int:
        return self.layout.n_slices * self.layout.n_volumes

    def __getitem__(self, m: int) -> Any:
        return self.data[self.layout.index_of(m)]


def overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Intersection over union of two intervals (0 when disjoint)."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 1.0


def training_range(bundle: ModelBundle) -> tuple[float, float]:
    """The training stack's robust range (kept in the model), else its min / max."""
    found = bundle.meta.get("intensity_range")
    if found:
        return float(found[0]), float(found[1])
    return bundle.normalizer.low, bundle.normalizer.high


class ModelPanel(Panel):
    """Holds the current model (``state.model``, trained or loaded), saves / loads it, and
    denoises the picked layer with it in an ``apply_worker`` (``"<layer> denoised (model)"``).
    Room is left in the button row for an export to other tools."""

    def __init__(
        self,
        viewer: napari.Viewer,
        state: WidgetState,
        settings: TrainSettingsPanel,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Model", viewer, state, parent)
        self.settings = settings
        self.worker = None
        self._control: RunControl | None = None
        self._apply_source: Any = None
        self._activity = Activity("NS-N2N: applying the model")
        self.result_layer: Any = None
        self.last_renormalized: bool | None = None

        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Save the current model (weights, settings, normalisation)")
        self.save_button.clicked.connect(self._save_dialog)
        self.load_button = QPushButton("Load…")
        self.load_button.setToolTip("Load a model saved by this plugin or by nsn2n")
        self.load_button.clicked.connect(self._load_dialog)
        for button in (self.save_button, self.load_button):
            row.addWidget(button)
        row.addStretch(1)
        lay.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel("Scaling"))
        self.scaling = QComboBox()
        self.scaling.addItems(SCALINGS)
        self.scaling.setToolTip(
            "How the stack is scaled to the network's [0, 1] input: the training stack's "
            "min / max (same units, e.g. CT in HU), this stack's own (other units), or auto: "
            "this stack's own when its intensity range hardly overlaps the training stack's"
        )
        row.addWidget(self.scaling, 1)
        self.apply_button = QPushButton("Apply to layer")
        self.apply_button.setToolTip("Denoise the picked image layer with the current model")
        self.apply_button.clicked.connect(self.apply_model)
        row.addWidget(self.apply_button)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop applying the model after the current batch")
        self.cancel_button.clicked.connect(self.cancel_apply)
        row.addWidget(self.cancel_button)
        lay.addLayout(row)
        self.apply_progress = QProgressBar()
        self.apply_progress.setFormat("applying %v/%m slices")
        self.apply_progress.hide()
        lay.addWidget(self.apply_progress)
        self.model_label = wrapped_label("No model yet: train one, or load one.")
        lay.addWidget(self.model_label)
        self.status_label = wrapped_label()
        self.status_label.hide()
        lay.addWidget(self.status_label)
        state.events.model.connect(self._describe)
        state.events.all.connect(self._update_buttons)

    # ------------------------------------------------------------------------------ model
    def _describe(self, *args) -> None:
        bundle = self.state.model
        if bundle is None:
            self.model_label.setText("No model yet: train one, or load one.")
            return
        th = "-" if bundle.threshold is None else f"{bundle.threshold:.4f}"
        steps = bundle.meta.get("steps")
        schedule = f"{bundle.meta.get('epochs', bundle.config.epochs)} epochs" + (
            f" ({steps} steps)" if steps else ""
        )
        self.model_label.setText(
            f"Model {self.state.model_origin}: {schedule}, U-Net {bundle.config.base_channels} "
            f"ch, th {th}, training stack {bundle.meta.get('shape', '?')}"
        )

    def save_model(self, path: str | Path) -> Path | None:
        """Write the current model to ``path``; the written path, or None (error shown)."""
        if self.state.model is None:
            show_error("No model to save: train or load one first")
            return None
        try:
            written = save_model(self.state.model, path, overwrite=True)
        except Exception as exc:
            show_error(f"Saving the model failed: {exc}")
            return None
        show_info(f"Model saved to {written}")
        return written

    def load_model(self, path: str | Path) -> ModelBundle | None:
        """Load the model at ``path`` as the current one; None (error shown) when it fails."""
        try:
            bundle = load_model(path)
        except Exception as exc:
            show_error(f"Loading the model failed: {exc}")
            return None
        self.state.model_origin = f"loaded from {Path(path).name}"
        self.state.model = bundle
        return bundle

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save NS-N2N model", "nsn2n-model.pt", MODEL_FILTER
        )
        if path:
            self.save_model(path)

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load NS-N2N model", "", MODEL_FILTER)
        if path:
            self.load_model(path)

    # ------------------------------------------------------------------------------ apply
    def choose_renormalize(self, layer: Any, axis: int) -> tuple[bool, str]:
        """Whether to scale ``layer`` by its own range, and a sentence saying why."""
        bundle = self.state.model
        trained = training_range(bundle)
        found = intensity_range(LayerSlices(layer.data, axis))
        here = trained if found is None else (found[0], found[1])
        shared = overlap(trained, here)
        ranges = f"{here[0]:.4g} to {here[1]:.4g} against {trained[0]:.4g} to {trained[1]:.4g}"
        choice = self.scaling.currentText()
        if choice == SCALINGS[1]:
            if shared < SAME_UNITS_OVERLAP:
                show_warning(
                    f"NS-N2N: '{layer.name}' spans {ranges} of the training stack: scaled like "
                    "the training stack, its values lie outside what the model saw"
                )
            return False, "scaled like the training stack"
        if choice == SCALINGS[2]:
            return True, "scaled by its own range"
        if shared < SAME_UNITS_OVERLAP:
            show_warning(
                f"NS-N2N: '{layer.name}' spans {ranges} of the training stack (other units?): "
                "scaled by its own range"
            )
            return True, f"scaled by its own range (auto: it spans {ranges} of the training stack)"
        return False, "scaled like the training stack (auto: same intensity range)"

    def apply_model(self) -> None:
        state = self.state
        if state.model is None or not state.ready or self.worker is not None:
            return
        layer, axis = state.layer, state.axis
        renormalize, why = self.choose_renormalize(layer, axis)
        self.last_renormalized = renormalize
        request = ApplyRequest(
            layer.data,
            axis=axis,
            device=self.settings.device,
            tta=self.settings.tta.isChecked(),
            rician=self.settings.rician.isChecked(),
            renormalize=renormalize,
        )
        self._control = RunControl()
        worker = apply_worker(state.model, request, self._control)
        self._apply_source, self.result_layer = layer, None
        worker.yielded.connect(self._on_apply_event)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_apply_finished)
        self.worker = worker
        self.apply_progress.setValue(0)
        self.apply_progress.show()
        self._status(f"Applying the model to '{layer.name}', {why}…")
        state.applying = True
        worker.start()

    def cancel_apply(self) -> None:
        if self._control is not None and self.worker is not None:
            self._control.stop()

    def _status(self, text: str) -> None:
        self.status_label.setText(text)
        self.status_label.setVisible(bool(text))

    def _on_apply_event(self, event) -> None:
        if self.closed:
            return
        if isinstance(event, StageProgress):
            self.apply_progress.setMaximum(event.total)
            self.apply_progress.setValue(event.done)
            self._activity.update(event.done, event.total)
        elif isinstance(event, Finished):
            source = self._apply_source
            name = f"{source.name} denoised (model)"
            self.result_layer = add_result_layer(self.viewer, source, event.denoised, name)
            scaled = "own range" if self.last_renormalized else "training stack's scaling"
            self._status(f"Model applied ({scaled}) → '{self.result_layer.name}'")

    def _on_error(self, exc: Exception) -> None:
        """napari reports the error itself (once); the panel says what failed."""
        if not self.closed:
            self._status(f"Applying the model failed: {exc}")

    def _on_apply_finished(self) -> None:
        stopped = self._control is not None and self._control.stopped
        self.worker, self._control, self._apply_source = None, None, None
        self._activity.close()
        if self.closed:
            return
        self.apply_progress.hide()
        if stopped and self.result_layer is None:
            self._status("Applying the model was cancelled.")
        self.state.applying = False

    def _update_buttons(self, *args) -> None:
        if self.closed:
            return
        state, has_model = self.state, self.state.model is not None
        self.save_button.setEnabled(has_model)
        self.apply_button.setEnabled(has_model and state.ready and self.worker is None)
        self.apply_button.setToolTip(
            state.problem
            or ("Denoise the picked image layer with the current model" if has_model else "")
            or "Train or load a model first"
        )
        self.cancel_button.setEnabled(self.worker is not None)
        self.scaling.setEnabled(self.worker is None)

    def shutdown(self) -> None:
        super().shutdown()
        if self._control is not None:
            self._control.stop()
        self._activity.close()
