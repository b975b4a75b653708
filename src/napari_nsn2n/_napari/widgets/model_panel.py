"""The model panel: save / load the current model and apply it to a layer, with progress, cancel
and the choice of intensity scaling.

How a stack is scaled for the model: ``scaling.choose_scaling``; the package itself:
``models.export_bioimageio``. (Just over 300 lines: four buttons that share the current model.)
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
from ...models import (
    INSTALL_HINT,
    ModelBundle,
    bioimageio_available,
    load_model,
    save_model,
)
from ...pipeline import ApplyRequest
from ..state import WidgetState
from ..workers import apply_worker, export_worker, report_error
from .common import Activity, Panel, add_residual_layer, add_result_layer, wrapped_label
from .scaling import SCALINGS, choose_scaling
from .training_settings import TrainSettingsPanel

MODEL_FILTER = "NS-N2N model (*.pt)"
LOAD_FILTER = "NS-N2N model or bioimage.io package (*.pt *.zip)"
PACKAGE_FILTER = "bioimage.io model package (*.zip)"


class ModelPanel(Panel):
    """Holds the current model (``state.model``, trained or loaded), saves / loads it, and
    denoises the picked layer with it in an ``apply_worker`` (``"<layer> denoised (model)"``),
    and exports it as a bioimage.io package (``export_worker``; needs the ``[bmz]`` extra)."""

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
        self.residual_layer: Any = None
        self.last_renormalized: bool | None = None

        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Save the current model (weights, settings, normalisation)")
        self.save_button.clicked.connect(self._save_dialog)
        self.load_button = QPushButton("Load…")
        self.load_button.setToolTip(
            "Load a model saved by this plugin or by nsn2n (.pt), or a bioimage.io package "
            "(.zip) exported by napari-nsn2n"
        )
        self.load_button.clicked.connect(self._load_dialog)
        self.export_button = QPushButton("Export…")
        self.export_button.clicked.connect(self._export_dialog)
        self.export_worker = None
        self.last_export: Path | None = None
        for button in (self.save_button, self.load_button, self.export_button):
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
        path, _ = QFileDialog.getOpenFileName(self, "Load NS-N2N model", "", LOAD_FILTER)
        if path:
            self.load_model(path)

    # ------------------------------------------------------------------------------ export
    def export_package(self, path: str | Path) -> None:
        """Export the current model as a bioimage.io package at ``path`` in a worker thread;
        the package is written only after bioimageio.core's model test passed on it."""
        if self.state.model is None or self.export_worker is not None:
            return
        from ...models import PackageInfo

        layer = self.state.layer
        info = PackageInfo(name=f"NS-N2N denoiser for {layer.name}" if layer is not None else None)
        worker = export_worker(self.state.model, Path(path), info)
        worker.returned.connect(self._on_exported)
        worker.errored.connect(self._on_export_error)
        worker.finished.connect(self._on_export_finished)
        self.export_worker, self.last_export = worker, None
        self._status(f"Exporting and testing the package {Path(path).name}…")
        self._update_buttons()
        worker.start()

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export bioimage.io package", "nsn2n-model.zip", PACKAGE_FILTER
        )
        if path:
            self.export_package(path if path.lower().endswith(".zip") else f"{path}.zip")

    def _on_exported(self, path: Path) -> None:
        self.last_export = path
        if not self.closed:
            self._status(f"Package exported and tested: {path}")
        show_info(f"bioimage.io package written to {path}")

    def _on_export_error(self, exc: Exception) -> None:
        report_error(exc)
        if not self.closed:
            self._status(f"Export failed, nothing written: {exc}")

    def _on_export_finished(self) -> None:
        self.export_worker = None
        if not self.closed:
            self._update_buttons()

    # ------------------------------------------------------------------------------ apply
    def apply_model(self) -> None:
        state = self.state
        if state.model is None or not state.ready or self.worker is not None:
            return
        layer, axis = state.layer, state.axis
        renormalize, why, warning = choose_scaling(
            state.model, layer, axis, self.scaling.currentText()
        )
        if warning:
            show_warning(f"NS-N2N: {warning}")
        self.last_renormalized = renormalize
        request = ApplyRequest(
            layer.data,
            axis=axis,
            device=self.settings.device,
            tta=self.settings.tta.isChecked(),
            rician=self.settings.rician.isChecked(),
            keep_structure=self.settings.keep_structure.isChecked(),
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
            if self.settings.residual.isChecked():
                self.residual_layer = add_residual_layer(self.viewer, source, event.denoised)
            self.result_layer = add_result_layer(self.viewer, source, event.denoised, name)
            scaled = "own range" if self.last_renormalized else "training stack's scaling"
            self._status(f"Model applied ({scaled}) → '{self.result_layer.name}'")

    def _on_error(self, exc: Exception) -> None:
        """Reported once; the panel says what failed."""
        report_error(exc)
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
        can_export = bioimageio_available()
        self.export_button.setEnabled(has_model and can_export and self.export_worker is None)
        self.export_button.setToolTip(
            "Export the current model as a bioimage.io package (.zip) for deepImageJ, ilastik, "
            "bioimageio.core…; tested with bioimageio.core before it is written"
            if can_export
            else f"Needs the bioimage.io extra: {INSTALL_HINT}"
        )
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
