"""The mask panel: compute and cache the LPF differences, then show W_i live as th moves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import napari
import numpy as np
from napari.utils.notifications import show_error
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleSlider

from ...config import TrainConfig
from ...control import RunControl
from ...errors import NSN2NError
from ...events import StageProgress
from ...method.lowpass import LowpassSettings
from ...method.masks import PairDifferences
from ...method.noise_model import STABILIZE_MODES
from ..workers import lowpass_worker
from .common import NEED_LAYER, Panel, placement, remove_layer
from .input_panel import InputPanel
from .mask_display import MaskController, empty_mask, mask_colormap

MASK_LAYER = "W mask"
THRESHOLD_MAX = 0.2
NO_LPF = "Compute the LPF to see W_i"
FILTERING = "Low-pass filtering…"


class MaskPanel(Panel):
    """LPF compute / cancel (in a worker, cached per layer, data, axis and LPF settings), the
    threshold slider with Suggest, the live ``W mask`` labels layer and the matched fraction."""

    def __init__(
        self,
        viewer: napari.Viewer,
        source: InputPanel,
        on_error: Callable[[Exception], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Weight masks W_i (Eq. 3)", viewer, source, on_error, parent)
        self.cache: dict[tuple, Any] = {}  # (layer id, data id, shape, axis, settings) -> diffs
        self.mask: MaskController | None = None
        self._mask_key: tuple | None = None
        self.worker = None  # the running LPF worker
        self._control: RunControl | None = None
        self._key: tuple | None = None  # the cache key the running LPF computes
        # the training settings' TrainConfig (set by the dock widget): Suggest plans for its steps
        self.train_config: Callable[[], TrainConfig] | None = None
        self._build()

    def _build(self) -> None:
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        self.h_factor = QDoubleSpinBox()
        self.h_factor.setRange(0.1, 5.0)
        self.h_factor.setSingleStep(0.1)
        self.h_factor.setValue(1.0)
        self.h_factor.setToolTip("Non-local means strength h in units of the estimated noise sigma")
        row.addWidget(QLabel("NLM h"))
        row.addWidget(self.h_factor)
        self.stabilize = QComboBox()
        self.stabilize.addItems(STABILIZE_MODES)
        self.stabilize.setToolTip(
            "Variance-stabilise (generalised Anscombe) before the LPF when the noise grows with "
            "the signal, as in photon-limited microscopy: auto = when a Poisson-Gaussian fit "
            "says so; on / off = always / never. Only the masks change, not the training data"
        )
        row.addWidget(QLabel("VST"))
        row.addWidget(self.stabilize)
        self.lpf_button = QPushButton("Compute LPF")
        self.lpf_button.setToolTip(
            "Low-pass filter every slice (non-local means + 3x3 median) and cache "
            "|LPF_i - LPF_i+1|; then any threshold costs one comparison"
        )
        self.lpf_button.clicked.connect(self.start_lowpass)
        row.addWidget(self.lpf_button)
        self.lpf_cancel = QPushButton("Cancel")
        self.lpf_cancel.clicked.connect(self.cancel_lowpass)
        row.addWidget(self.lpf_cancel)
        lay.addLayout(row)
        self.lpf_progress = QProgressBar()
        self.lpf_progress.setFormat("LPF %v/%m")
        self.lpf_progress.setValue(0)
        lay.addWidget(self.lpf_progress)
        row = QHBoxLayout()
        row.addWidget(QLabel("th"))
        self.threshold_slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(0.0, THRESHOLD_MAX)
        self.threshold_slider.setSingleStep(0.001)
        self.threshold_slider.setDecimals(4)
        self.threshold_slider.setValue(0.01)
        self.threshold_slider.setToolTip(
            "th on the min-max normalised [0, 1] scale: W = 1 where |LPF_i - LPF_i+1| <= th. "
            "Magenta in the 'W mask' layer = unmatched (W = 0): it should cover the structural "
            "differences between slice i and i+1, and not the leftover noise"
        )
        self.threshold_slider.valueChanged.connect(self._on_threshold_changed)
        row.addWidget(self.threshold_slider, 1)
        self.suggest_button = QPushButton("Suggest")
        self.suggest_button.setToolTip(
            "th = k x the residual-noise scale of |LPF_i - LPF_i+1|, fitted to the lower part "
            "of the differences; k = 10 for a run of up to 800 optimiser steps of the training "
            "settings, 5 from 2400 on, 5 for noise correlated within slices "
            "(threshold.suggest_threshold)"
        )
        self.suggest_button.clicked.connect(self.suggest_threshold)
        row.addWidget(self.suggest_button)
        lay.addLayout(row)
        self.fraction_label = QLabel(NO_LPF)
        self.fraction_label.setWordWrap(True)
        lay.addWidget(self.fraction_label)

    def fields(self) -> dict[str, QWidget]:
        """The settings this panel contributes (saved between sessions)."""
        return {
            "threshold": self.threshold_slider,
            "h_factor": self.h_factor,
            "stabilize": self.stabilize,
        }

    def lowpass_settings(self) -> LowpassSettings:
        return LowpassSettings(
            h_factor=round(self.h_factor.value(), 3), stabilize=self.stabilize.currentText()
        )

    def source_key(self) -> tuple | None:
        """The cache key of the picked layer / axis / LPF settings (None without a choice)."""
        layer, axis = self.source.layer, self.source.axis
        if layer is None or axis is None:
            return None
        data = layer.data
        return (id(layer), id(data), tuple(data.shape), axis, self.lowpass_settings())

    @property
    def differences(self) -> PairDifferences | None:
        """The cached PairDifferences of the current layer / axis / LPF settings, or None."""
        key = self.source_key()
        return None if key is None else self.cache.get(key)

    # ------------------------------------------------------------------------------ the LPF
    def start_lowpass(self) -> None:
        key = self.source_key()
        if key is None:
            show_error(NEED_LAYER)
            return
        if key in self.cache:
            self.show_cached()
            return
        self.cancel_lowpass()
        self._key = key
        self._control = RunControl()
        worker = lowpass_worker(
            self.source.layer.data, self.source.axis, self.lowpass_settings(), self._control
        )
        worker.yielded.connect(self._on_lowpass_event)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_lowpass_finished)
        self.worker = worker
        self.lpf_progress.setValue(0)
        self.fraction_label.setText(FILTERING)
        worker.start()
        self.changed.emit()

    def cancel_lowpass(self) -> None:
        if self.worker is not None:
            self._control.stop()

    def _on_lowpass_event(self, item) -> None:
        if self.closed:
            return
        if isinstance(item, StageProgress):
            self.lpf_progress.setMaximum(item.total)
            self.lpf_progress.setValue(item.done)
        else:  # PairDifferences: plain numpy, kept in the main thread's cache
            self.cache[self._key] = item
            self.show_cached()

    def _on_lowpass_finished(self) -> None:
        self.worker = None
        if not self.closed and self.fraction_label.text() == FILTERING:
            self.fraction_label.setText("LPF cancelled")
        self.changed.emit()

    # ---------------------------------------------------------------------------- the mask
    def _mask_layer(self, shape: tuple[int, ...]):
        """The ``W mask`` labels layer of ``shape`` over the picked layer (reused if present)."""
        layer = self.source.layer
        existing = next(
            (
                lay
                for lay in self.viewer.layers
                if lay.name == MASK_LAYER and lay.ndim == len(shape)
            ),
            None,
        )
        geometry = placement(layer)
        if existing is not None and existing.data.shape == tuple(shape):
            existing.scale, existing.translate = geometry["scale"], geometry["translate"]
            existing.affine = geometry["affine"]
            return existing
        remove_layer(self.viewer, existing)
        labels = self.viewer.add_labels(
            empty_mask(tuple(shape)),
            name=MASK_LAYER,
            opacity=0.6,
            colormap=mask_colormap(),
            **geometry,
        )
        labels.editable = False
        self.viewer.layers.selection.active = layer
        return labels

    def show_cached(self) -> None:
        """Show W_i of the picked source if its differences are cached, else drop the mask."""
        key = self.source_key()
        diffs = None if key is None else self.cache.get(key)
        if diffs is None:
            if self.mask is not None:
                self.mask.stop()
                self.mask = None
                self._mask_key = None
            self.fraction_label.setText(NO_LPF if key is not None else "Choose a stack")
            self.changed.emit()
            return
        if (
            self.mask is not None
            and self._mask_key == key
            and self.mask.labels in self.viewer.layers
        ):
            return
        if self.mask is not None:
            self.mask.stop()
        labels = self._mask_layer(diffs.layout.shape)
        self.mask = MaskController(diffs, labels, self.shown_pairs, self)
        self.mask.fraction_changed.connect(self._on_fraction)
        self._mask_key = key
        self.mask.start(self.threshold_slider.value())
        self.changed.emit()

    def shown_pairs(self) -> list[int] | None:
        """Pair indices on screen, or None when the slice axis is displayed."""
        layer = self.source.layer
        if self.mask is None or layer is None:
            return []
        layout = self.mask.differences.layout
        dims = self.viewer.dims
        displayed = [d - (dims.ndim - len(layout.shape)) for d in dims.displayed]
        if layout.slice_axis in displayed or (
            layout.volume_axis is not None and layout.volume_axis in displayed
        ):
            return None
        position = np.asarray(layer.world_to_data(dims.point))
        index = int(np.clip(np.round(position[layout.slice_axis]), 0, layout.n_slices - 1))
        volume = 0
        if layout.volume_axis is not None:
            volume = int(np.clip(np.round(position[layout.volume_axis]), 0, layout.n_volumes - 1))
        k = self.mask.pair_at(index, volume)
        return [] if k is None else [k]

    def on_view_changed(self) -> None:
        """The viewer's slice moved: bring the shown part of the mask up to date."""
        if self.mask is not None:
            self.mask.on_view_changed()

    def hide_mask(self) -> None:
        if self.mask is not None:
            self.mask.labels.visible = False

    def _on_threshold_changed(self, value: float) -> None:
        if self.mask is not None:
            self.mask.set_threshold(value)

    def _on_fraction(self, fraction: float, exact: bool) -> None:
        approx = "" if exact else "≈ "
        stabilizer = self.mask.differences.stabilizer if self.mask is not None else None
        stabilized = (
            "" if stabilizer is None else f" LPF on stabilised slices ({stabilizer.describe()})."
        )
        self.fraction_label.setText(
            f"Matched (W = 1): {approx}{100 * fraction:.1f} % of pixels; "
            f"magenta = unmatched (W = 0) at th = {self.threshold_slider.value():.4f}.{stabilized}"
        )

    def suggest_threshold(self) -> None:
        diffs = self.differences
        if diffs is None:
            show_error("Compute the LPF first")
            return
        try:
            config = self.train_config() if self.train_config is not None else None
        except NSN2NError:  # invalid training settings: plan for a short run
            config = None
        self.threshold_slider.setValue(min(diffs.suggest_threshold(config), THRESHOLD_MAX))

    # ------------------------------------------------------------------------------ state
    def update_buttons(self, ready: bool, training: bool) -> None:
        running = self.worker is not None
        self.lpf_button.setEnabled(ready and not running and not training)
        self.lpf_cancel.setEnabled(running)
        self.threshold_slider.setEnabled(not training)
        self.suggest_button.setEnabled(self.mask is not None and not training)

    def shutdown(self) -> None:
        """Stop the mask fill and any LPF run (it returns after the current slice)."""
        super().shutdown()
        if self.mask is not None:
            self.mask.stop()
        if self._control is not None:
            self._control.stop()
