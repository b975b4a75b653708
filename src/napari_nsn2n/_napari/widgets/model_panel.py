"""The model panel: save / load the trained model and apply it to a layer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import napari
import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...models import ModelBundle, load_model, save_model
from ..workers import apply_worker
from .common import NEED_LAYER, Panel, add_result_layer
from .input_panel import InputPanel

MODEL_FILTER = "NS-N2N model (*.pt)"


class ModelPanel(Panel):
    """Holds the current ``bundle`` (trained or loaded), saves / loads it, and denoises the
    picked layer with it in an ``apply_worker`` (result: ``"<layer> denoised (model)"``)."""

    def __init__(
        self,
        viewer: napari.Viewer,
        source: InputPanel,
        device: Callable[[], str],
        tta: Callable[[], bool],
        rician: Callable[[], bool],
        status: Callable[[str], None],
        on_error: Callable[[Exception], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Model", viewer, source, on_error, parent)
        self._device, self._tta, self._rician = device, tta, rician
        self._status = status
        self.bundle: ModelBundle | None = None
        self.worker = None  # the running apply worker
        self._apply_source = None

        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        self.save_button = QPushButton("Save model…")
        self.save_button.clicked.connect(self._save_dialog)
        self.load_button = QPushButton("Load model…")
        self.load_button.clicked.connect(self._load_dialog)
        self.apply_button = QPushButton("Apply to layer")
        self.apply_button.setToolTip("Denoise the selected image layer with the current model")
        self.apply_button.clicked.connect(self.apply_model)
        for button in (self.save_button, self.load_button, self.apply_button):
            row.addWidget(button)
        lay.addLayout(row)
        self.model_label = QLabel("No model yet")
        self.model_label.setWordWrap(True)
        lay.addWidget(self.model_label)

    def set_bundle(self, bundle: ModelBundle, how: str) -> None:
        """Make ``bundle`` the current model; ``how`` it came ("trained", "loaded from …")."""
        self.bundle = bundle
        self._describe(how)

    def _describe(self, how: str) -> None:
        bundle = self.bundle
        if bundle is None:
            self.model_label.setText("No model yet")
            return
        th = "-" if bundle.threshold is None else f"{bundle.threshold:.4f}"
        steps = bundle.meta.get("steps")
        schedule = f"{bundle.meta.get('epochs', bundle.config.epochs)} epochs" + (
            f" ({steps} steps)" if steps else ""
        )
        self.model_label.setText(
            f"Model {how}: {schedule}, U-Net {bundle.config.base_channels} ch, "
            f"th {th}, trained on {bundle.meta.get('shape', '?')}"
        )
        self.changed.emit()

    def save_model(self, path: str | Path) -> Path | None:
        """Write the current model to ``path``; the written path, or None (error shown)."""
        if self.bundle is None:
            show_error("No model to save: train or load one first")
            return None
        try:
            written = save_model(self.bundle, path, overwrite=True)
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
        self.set_bundle(bundle, f"loaded from {Path(path).name}")
        return self.bundle

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

    def apply_model(self) -> None:
        layer, axis = self.source.layer, self.source.axis
        if self.bundle is None:
            show_error("No model: train or load one first")
            return
        if layer is None or axis is None:
            show_error(NEED_LAYER)
            return
        worker = apply_worker(
            self.bundle, layer.data, axis, self._device(), self._tta(), self._rician()
        )
        self._apply_source = layer
        worker.returned.connect(self._on_applied)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_apply_finished)
        self.worker = worker
        self._status(f"Applying the model to '{layer.name}'…")
        worker.start()
        self.changed.emit()

    def _on_applied(self, denoised: np.ndarray) -> None:
        source, self._apply_source = self._apply_source, None
        if self.closed or source is None:
            return
        result = add_result_layer(self.viewer, source, denoised, f"{source.name} denoised (model)")
        self._status(f"Model applied → '{result.name}'")

    def _on_apply_finished(self) -> None:
        self.worker = None
        self.changed.emit()

    def update_buttons(self, ready: bool) -> None:
        has_model = self.bundle is not None
        self.save_button.setEnabled(has_model)
        self.apply_button.setEnabled(has_model and ready and self.worker is None)
