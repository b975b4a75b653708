"""The mask panel: compute and cache the LPF differences, then show W_i live as th moves.

The threshold belongs to the stack: each layer keeps the th chosen for it, a sample opens at its
suggested th, and a stack without a choice gets "Suggest" as soon as its LPF is done. (Just over
300 lines: the LPF run and the live mask are in ``lowpass_run`` and ``mask_display``; what is left
is the panel's own controls.)
"""

from __future__ import annotations

from typing import Any

import napari
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

from ...errors import NSN2NError
from ...method.lowpass import LowpassSettings
from ...method.masks import PairDifferences
from ...method.noise_model import STABILIZE_MODES
from ..layers import SAMPLE_KEY
from ..settings import Field
from ..state import WidgetState
from .common import Panel
from .lowpass_run import LowpassRun
from .mask_display import MaskController, mask_layer, pairs_on_screen
from .threshold_slider import ThresholdSlider
from .training_settings import TrainSettingsPanel

NO_LPF = "Compute the LPF to see W_i (training without a chosen th uses the suggestion)."
FILTERING = "Low-pass filtering…"


class MaskPanel(Panel):
    """LPF compute / cancel (in a worker, cached per layer, data, axis and LPF settings), the
    threshold with Suggest, the live ``W mask`` labels layer and the matched fraction."""

    def __init__(
        self,
        viewer: napari.Viewer,
        state: WidgetState,
        settings: TrainSettingsPanel,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Weight masks W_i (Eq. 3)", viewer, state, parent)
        self.settings = settings  # Suggest plans for the steps these settings will train
        self.cache: dict[tuple, PairDifferences] = {}
        self.mask: MaskController | None = None
        self._mask_key: tuple | None = None
        self._thresholds: dict[Any, float] = {}  # per layer id: the th chosen for it
        self.lowpass = LowpassRun(viewer, self)
        self.lowpass.progressed.connect(self._on_lowpass_progress)
        self.lowpass.delivered.connect(self._on_lowpass_delivered)
        self.lowpass.ended.connect(self._on_lowpass_ended)
        self._build()
        state.events.layer.connect(self._on_source_changed)
        state.events.axis.connect(self._on_source_changed)
        state.events.all.connect(self._update_buttons)

    def _build(self) -> None:
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        self.h_factor = QDoubleSpinBox()
        self.h_factor.setRange(0.1, 5.0)
        self.h_factor.setSingleStep(0.1)
        self.h_factor.setValue(1.0)
        self.h_factor.setToolTip("Non-local means strength h in units of the estimated noise sigma")
        self.h_factor.valueChanged.connect(self._on_lowpass_settings)
        row.addWidget(QLabel("NLM h"))
        row.addWidget(self.h_factor)
        self.stabilize = QComboBox()
        self.stabilize.addItems(STABILIZE_MODES)
        self.stabilize.setToolTip(
            "Variance-stabilise (generalised Anscombe) before the LPF when the noise grows with "
            "the signal, as in photon-limited microscopy: auto = when a Poisson-Gaussian fit "
            "says so; on / off = always / never. Only the masks change, not the training data"
        )
        self.stabilize.currentIndexChanged.connect(self._on_lowpass_settings)
        row.addWidget(QLabel("VST"))
        row.addWidget(self.stabilize)
        row.addStretch(1)
        lay.addLayout(row)
        row = QHBoxLayout()
        self.lpf_button = QPushButton("Compute LPF")
        self.lpf_button.setToolTip(
            "Low-pass filter every slice (non-local means + 3x3 median) and keep "
            "|LPF_i - LPF_i+1|; then any threshold costs one comparison"
        )
        self.lpf_button.clicked.connect(self.start_lowpass)
        row.addWidget(self.lpf_button)
        self.lpf_cancel = QPushButton("Cancel")
        self.lpf_cancel.setToolTip("Stop the LPF after the current slice")
        self.lpf_cancel.clicked.connect(self.cancel_lowpass)
        row.addWidget(self.lpf_cancel)
        lay.addLayout(row)
        self.lpf_progress = QProgressBar()
        self.lpf_progress.setFormat("LPF %v/%m slices")
        self.lpf_progress.hide()  # shown while the LPF runs
        lay.addWidget(self.lpf_progress)
        row = QHBoxLayout()
        row.addWidget(QLabel("th"))
        self.threshold_slider = ThresholdSlider(0.01)
        self.threshold_slider.setToolTip(
            "th on the min-max normalised [0, 1] scale (logarithmic): W = 1 where "
            "|LPF_i - LPF_i+1| <= th. Magenta in the 'W mask' layer = unmatched (W = 0): it "
            "should cover the structures that differ between slice i and i+1, not the noise. "
            "The yellow mark is the suggestion"
        )
        self.threshold_slider.valueChanged.connect(self._on_threshold_changed)
        row.addWidget(self.threshold_slider, 1)
        self.suggest_button = QPushButton("Suggest")
        self.suggest_button.setToolTip(
            "th = k x the residual-noise scale of |LPF_i - LPF_i+1|, fitted to the lower part "
            "of the differences; k is smaller for long runs (the training settings' steps) and "
            "for noise correlated within slices (method/threshold.py, docs/napari.md)"
        )
        self.suggest_button.clicked.connect(self.suggest_threshold)
        row.addWidget(self.suggest_button)
        lay.addLayout(row)
        self.fraction_label = QLabel(NO_LPF)
        self.fraction_label.setWordWrap(True)
        lay.addWidget(self.fraction_label)

    def fields(self) -> list[Field]:
        """The values remembered in napari's preferences (not th: it belongs to a stack)."""
        return [
            Field(self.h_factor, "masks", "h_factor"),
            Field(self.stabilize, "masks", "stabilize"),
        ]

    def lowpass_settings(self) -> LowpassSettings:
        return LowpassSettings(
            h_factor=round(self.h_factor.value(), 3), stabilize=self.stabilize.currentText()
        )

    def source_key(self) -> tuple | None:
        """The cache key of the picked layer / axis / LPF settings (None when not ready)."""
        state = self.state
        if not state.ready:
            return None
        data = state.layer.data
        return (state.layer.unique_id, id(data), tuple(data.shape), state.axis, state.lowpass)

    @property
    def differences(self) -> PairDifferences | None:
        key = self.source_key()
        return None if key is None else self.cache.get(key)

    def _on_lowpass_settings(self, *args) -> None:
        self.state.lowpass = self.lowpass_settings()
        self.show_cached()

    def _on_source_changed(self, *args) -> None:
        self._restore_threshold()
        self.show_cached()

    # ------------------------------------------------------------------------------ the LPF
    @property
    def worker(self):
        return self.lowpass.worker

    def start_lowpass(self) -> None:
        key = self.source_key()
        if key is None or self.lowpass.worker is not None:
            return
        if key in self.cache:
            self.show_cached()
            return
        state = self.state
        self.lowpass.start(key, state.layer, state.axis, state.lowpass)
        self.lpf_progress.setValue(0)
        self.lpf_progress.show()
        self.fraction_label.setText(FILTERING)
        state.lpf_running = True

    def cancel_lowpass(self) -> None:
        if self.lowpass.cancel():
            self.fraction_label.setText("LPF cancelled.")

    def _on_lowpass_progress(self, done: int, total: int) -> None:
        self.lpf_progress.setMaximum(total)
        self.lpf_progress.setValue(done)

    def _on_lowpass_delivered(self, key: tuple, differences: PairDifferences) -> None:
        self.cache[key] = differences  # plain numpy, kept in the main thread
        self.show_cached()

    def _on_lowpass_ended(self, message: str) -> None:
        """The LPF ended: ``message`` says why when it delivered nothing."""
        if self.closed:
            return
        self.lpf_progress.hide()
        if message:
            self.fraction_label.setText(message)
        elif self.fraction_label.text() == FILTERING:
            self.fraction_label.setText("LPF cancelled.")
        self.state.lpf_running = False

    # ---------------------------------------------------------------------------- the mask
    def show_cached(self) -> None:
        """Show W_i of the picked source if its differences are cached, else hide the mask."""
        key = self.source_key()
        diffs = None if key is None else self.cache.get(key)
        self.state.differences = diffs
        if diffs is None:
            self._drop_mask()
            if self.lowpass.worker is None:
                self.fraction_label.setText(NO_LPF if key is not None else "Choose a stack.")
            return
        suggestion = diffs.suggest_threshold(self._train_config())
        self.threshold_slider.setSuggestion(suggestion)
        if self.state.layer.unique_id not in self._thresholds:
            self.threshold_slider.setValue(suggestion)  # no choice yet for this stack
        if (
            self.mask is not None
            and self._mask_key == key
            and self.mask.labels in self.viewer.layers
        ):
            return
        if self.mask is not None:
            self.mask.stop()
        labels = mask_layer(self.viewer, self.state.layer, diffs.layout.shape)
        self.mask = MaskController(diffs, labels, self.shown_pairs, self)
        self.mask.fraction_changed.connect(self._on_fraction)
        self._mask_key = key
        self.mask.start(self.threshold_slider.value())

    def _drop_mask(self) -> None:
        self.threshold_slider.setSuggestion(None)
        if self.mask is not None:
            self.mask.stop()
            self.mask.labels.visible = False
            self.mask, self._mask_key = None, None

    def shown_pairs(self) -> list[int] | None:
        """Pair indices on screen, or None when the slice axis is displayed."""
        if self.mask is None or self.state.layer is None:
            return []
        return pairs_on_screen(self.viewer, self.state.layer, self.mask.layout)

    def on_view_changed(self) -> None:
        """The viewer's slice moved: bring the shown part of the mask up to date."""
        if self.mask is not None:
            self.mask.on_view_changed()

    def hide_mask(self) -> None:
        if self.mask is not None:
            self.mask.labels.visible = False

    # -------------------------------------------------------------------------- threshold
    def _restore_threshold(self) -> None:
        """The picked stack's own th: chosen before, a sample's suggestion, or kept."""
        layer = self.state.layer
        if layer is None:
            return
        known: float | None = self._thresholds.get(layer.unique_id)
        if known is None:
            known = (layer.metadata or {}).get(SAMPLE_KEY, {}).get("suggested_threshold")
        if known is not None:
            self.threshold_slider.blockSignals(True)
            self.threshold_slider.setValue(float(known))
            self.threshold_slider.blockSignals(False)
        self.state.threshold = None if known is None else self.threshold_slider.value()

    def _on_threshold_changed(self, value: float) -> None:
        self.state.threshold = value
        if self.state.layer is not None:
            self._thresholds[self.state.layer.unique_id] = value
        if self.mask is not None:
            self.mask.set_threshold(value)

    def _on_fraction(self, fraction: float, exact: bool) -> None:
        approx = "" if exact else "≈ "
        stabilizer = self.mask.differences.stabilizer if self.mask is not None else None
        stabilized = (
            "" if stabilizer is None else f" LPF on stabilised slices ({stabilizer.describe()})."
        )
        suggestion = self.threshold_slider.suggestion
        suggested = "" if suggestion is None else f" (suggested {suggestion:.4f})"
        self.fraction_label.setText(
            f"Matched (W = 1): {approx}{100 * fraction:.1f} % of pixels at th = "
            f"{self.threshold_slider.value():.4f}{suggested}; magenta = unmatched.{stabilized}"
        )

    def _train_config(self):
        try:
            return self.settings.train_config()
        except NSN2NError:  # invalid training settings: plan for a short run
            return None

    def suggest_threshold(self) -> None:
        diffs = self.differences
        if diffs is None:
            return
        suggestion = diffs.suggest_threshold(self._train_config())
        self.threshold_slider.setSuggestion(suggestion)
        self.threshold_slider.setValue(suggestion)

    # ------------------------------------------------------------------------------ state
    def _update_buttons(self, *args) -> None:
        if self.closed:
            return
        state = self.state
        running, training = self.lowpass.worker is not None, state.training
        self.lpf_button.setEnabled(state.ready and not running and not training)
        self.lpf_button.setToolTip(
            state.problem or "Low-pass filter every slice and keep |LPF_i - LPF_i+1|"
        )
        self.lpf_cancel.setEnabled(running)
        self.threshold_slider.setEnabled(not training)
        self.suggest_button.setEnabled(self.mask is not None and not training)
        for widget in (self.h_factor, self.stabilize):
            widget.setEnabled(not running and not training)

    def shutdown(self) -> None:
        """Stop the mask fill and any LPF run (it returns after the current slice)."""
        super().shutdown()
        if self.mask is not None:
            self.mask.stop()
        self.lowpass.shutdown()
