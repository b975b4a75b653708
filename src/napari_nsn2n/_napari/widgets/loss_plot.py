"""The live loss plot (pyqtgraph): each loss term and the held-out loss against the step.

The terms differ by orders of magnitude and move differently (L_IC starts near 1e-11 and grows
while the reconstruction loss falls from near 1e-3), so by default each curve is scaled to its
own range ("normalised": 0 = its lowest value so far, 1 = its highest): every term's course is
visible at a glance whatever its size. "relative" divides each by its first value, "absolute"
shows the raw values (best with the log axis). "smooth" is an exponential moving average (the
raw step losses of random patches are noisy). The held-out curve is the NS-N2N loss on pixels never trained on;
a dashed line marks its best step (the weights an early stop keeps).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)
from scipy.signal import lfilter

SERIES = (  # key, legend, colour, width
    ("loss", "total", "#f0f0f0", 2.4),
    ("recon", "recon", "#4fa3ff", 1.4),
    ("rc", "RC", "#ffb347", 1.4),
    ("ic", "IC", "#7ddc6f", 1.4),
)
HELD_OUT = ("held-out", "#ff5fd2")
FLOOR = 1e-12  # a log axis cannot show 0
PLOT_HEIGHT = 170
SCALES = ("normalised", "relative", "absolute")


def smoothed(values: np.ndarray, factor: float) -> np.ndarray:
    """Exponential moving average with weight ``factor`` on the past (0 = raw)."""
    if factor <= 0 or len(values) < 2:
        return values
    out, _ = lfilter([1 - factor], [1, -factor], values, zi=[factor * values[0]])
    return out


class LossPlot(QWidget):
    """``append(step, {"loss", "recon", "rc", "ic"})`` per step, ``add_validation(step, loss,
    best_step)`` per held-out measurement, ``clear()`` before another run."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.scale_combo = QComboBox()
        self.scale_combo.addItems(SCALES)
        self.scale_combo.setToolTip(
            "normalised: each curve scaled to its own range (0 = lowest, 1 = highest so far), so "
            "terms of very different size can all be followed; relative: each divided by its "
            "first value; absolute: the loss values themselves"
        )
        self.log_box = QCheckBox("log")
        self.log_box.setChecked(False)
        self.log_box.setToolTip("Logarithmic y axis")
        self.smooth = QDoubleSpinBox()
        self.smooth.setRange(0.0, 0.99)
        self.smooth.setSingleStep(0.05)
        self.smooth.setValue(0.8)
        self.smooth.setToolTip("Exponential moving average of the step losses (0 = raw)")
        row.addWidget(QLabel("Scale"))
        row.addWidget(self.scale_combo)
        row.addWidget(self.log_box)
        row.addWidget(QLabel("smooth"))
        row.addWidget(self.smooth)
        row.addStretch(1)
        lay.addLayout(row)
        self.plot = pg.PlotWidget(background="#262930")
        self.plot.setFixedHeight(PLOT_HEIGHT)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "step")
        self.plot.setMenuEnabled(False)
        self.plot.getPlotItem().setLogMode(y=False)
        legend = self.plot.addLegend(offset=(-4, 4), colCount=5, labelTextSize="7pt")
        legend.setBrush(pg.mkBrush(38, 41, 48, 200))
        self.curves = {
            key: self.plot.plot([], [], pen=pg.mkPen(colour, width=width), name=label)
            for key, label, colour, width in SERIES
        }
        label, colour = HELD_OUT
        self.held_out_curve = self.plot.plot(
            [],
            [],
            pen=pg.mkPen(colour, width=2),
            symbol="o",
            symbolSize=5,
            symbolBrush=colour,
            symbolPen=None,
            name=label,
        )
        self.best_line = pg.InfiniteLine(
            angle=90, pen=pg.mkPen(colour, style=pg.QtCore.Qt.PenStyle.DashLine)
        )
        self.best_line.hide()
        self.plot.addItem(self.best_line)
        lay.addWidget(self.plot)
        for signal in (
            self.scale_combo.currentIndexChanged,
            self.log_box.toggled,
            self.smooth.valueChanged,
        ):
            signal.connect(self.redraw)
        self.clear()

    # ----------------------------------------------------------------------------------- API
    def clear(self) -> None:
        self._steps: list[float] = []
        self._values: dict[str, list[float]] = {key: [] for key, *_ in SERIES}
        self._held_out: list[tuple[float, float]] = []
        self.best_step: int | None = None
        self.best_line.hide()
        self.redraw()

    @property
    def n_points(self) -> int:
        return len(self._steps)

    @property
    def n_validations(self) -> int:
        return len(self._held_out)

    def append(self, step: int, values: dict[str, float]) -> None:
        """One training step's loss terms (a missing or non-finite term is left out)."""
        self._steps.append(float(step))
        for key, *_ in SERIES:
            value = values.get(key)
            ok = value is not None and np.isfinite(value)
            self._values[key].append(float(value) if ok else np.nan)
        self.redraw()

    def add_validation(self, step: int, loss: float, best_step: int) -> None:
        self._held_out.append((float(step), float(loss)))
        self.best_step = int(best_step)
        self.best_line.setValue(best_step)
        self.best_line.show()
        self.redraw()

    # ------------------------------------------------------------------------------ drawing
    def curve_data(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """The (x, y) drawn for ``key`` (a SERIES key or "held-out") in the current mode."""
        if key == HELD_OUT[0]:
            if not self._held_out:
                return np.empty(0), np.empty(0)
            x, y = (np.asarray(v, dtype=float) for v in zip(*self._held_out, strict=True))
        else:
            x = np.asarray(self._steps, dtype=float)
            y = np.asarray(self._values[key], dtype=float)
            keep = np.isfinite(y)
            x, y = x[keep], y[keep]
        nonzero = np.flatnonzero(np.abs(y) > 0)
        if not nonzero.size:  # a term that is off (weight 0) stays hidden
            return np.empty(0), np.empty(0)
        x, y = x[nonzero[0] :], y[nonzero[0] :]  # a term may start at exactly 0 (IC)
        if key != HELD_OUT[0]:
            y = smoothed(y, self.smooth.value())
        mode = self.scale_combo.currentText()
        if mode == "relative":
            y = y / y[0]
        elif mode == "normalised":
            span = float(y.max() - y.min())
            y = (y - y.min()) / span if span > 0 else np.full_like(y, 0.5)
        if self.log_box.isChecked():
            y = np.maximum(y, FLOOR)
        return x, y

    def redraw(self, *args) -> None:
        self.plot.getPlotItem().setLogMode(y=self.log_box.isChecked())
        labels = {"normalised": "loss (own range)", "relative": "loss / first", "absolute": "loss"}
        self.plot.setLabel("left", labels[self.scale_combo.currentText()])
        for key, curve in self.curves.items():
            curve.setData(*self.curve_data(key))
        self.held_out_curve.setData(*self.curve_data(HELD_OUT[0]))
