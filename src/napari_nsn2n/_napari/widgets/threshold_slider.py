"""A threshold control for th of Eq. 3: a logarithmic slider with the suggestion marked on it, and
a spin box for the exact value.

Useful thresholds span 0.001 to 0.05 of the stack's range and their effect is relative (twice
the threshold matches noticeably more), so the slider moves in equal ratios between ``LOW`` and
``HIGH``; its left end is exactly 0 (nothing matched).
"""

from __future__ import annotations

import math

from qtpy.QtCore import Qt, Signal
from qtpy.QtGui import QColor, QPainter, QPen
from qtpy.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QSlider,
    QStyle,
    QStyleOptionSlider,
    QWidget,
)

LOW, HIGH = 1e-4, 0.2  # the slider's log range (position 1 .. STEPS); position 0 is th = 0
STEPS = 1000
MARK = QColor("#ffd24a")


def to_position(value: float) -> int:
    if value <= 0:
        return 0
    ratio = math.log(min(max(value, LOW), HIGH) / LOW) / math.log(HIGH / LOW)
    return 1 + round(ratio * (STEPS - 1))


def to_value(position: int) -> float:
    if position <= 0:
        return 0.0
    return LOW * (HIGH / LOW) ** ((position - 1) / (STEPS - 1))


class _MarkedSlider(QSlider):
    """A horizontal QSlider that draws a small triangle at ``mark`` (a position, or None)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.mark: int | None = None

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.mark is None:
            return
        option = QStyleOptionSlider()
        self.initStyleOption(option)
        groove = self.style().subControlRect(
            QStyle.ComplexControl.CC_Slider, option, QStyle.SubControl.SC_SliderGroove, self
        )
        handle = self.style().subControlRect(
            QStyle.ComplexControl.CC_Slider, option, QStyle.SubControl.SC_SliderHandle, self
        )
        span = groove.width() - handle.width()
        x = groove.left() + handle.width() / 2 + span * self.mark / max(self.maximum(), 1)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(MARK, 2))
        bottom = self.height() - 1
        painter.drawLine(int(x), bottom - 6, int(x), bottom)
        painter.drawLine(int(x) - 3, bottom - 3, int(x), bottom - 6)
        painter.drawLine(int(x) + 3, bottom - 3, int(x), bottom - 6)
        painter.end()


class ThresholdSlider(QWidget):
    """``value()`` / ``setValue(th)`` / ``valueChanged(th)``; ``setSuggestion(th or None)`` marks
    a suggested value. ``slider`` (the QSlider) and ``spin`` (the QDoubleSpinBox) are the parts a
    user drags and types into."""

    valueChanged = Signal(float)

    def __init__(self, value: float = 0.01, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = _MarkedSlider()
        self.slider.setRange(0, STEPS)
        self.slider.setPageStep(STEPS // 20)
        self.spin = QDoubleSpinBox()
        self.spin.setRange(0.0, 1.0)
        self.spin.setDecimals(4)
        self.spin.setSingleStep(0.0005)
        self.spin.setKeyboardTracking(False)
        self.spin.setMinimumWidth(self.spin.fontMetrics().horizontalAdvance("0.00000") + 30)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.slider, 1)
        row.addWidget(self.spin)
        self._value = -1.0
        self.suggestion: float | None = None
        self.slider.valueChanged.connect(self._on_slider)
        self.spin.valueChanged.connect(self._on_spin)
        self.setValue(value)

    def value(self) -> float:
        return self._value

    def setValue(self, value: float) -> None:
        value = round(float(min(max(value, 0.0), 1.0)), 6)
        if value == self._value:
            return
        self._value = value
        for widget, shown in ((self.slider, to_position(value)), (self.spin, value)):
            widget.blockSignals(True)
            widget.setValue(shown)
            widget.blockSignals(False)
        self.valueChanged.emit(value)

    def setSuggestion(self, value: float | None) -> None:
        """Mark ``value`` on the slider (None: no mark)."""
        self.suggestion = value
        self.slider.mark = None if value is None else to_position(value)
        self.slider.update()

    def _on_slider(self, position: int) -> None:
        self.setValue(to_value(position))

    def _on_spin(self, value: float) -> None:
        self.setValue(value)

    def minimum(self) -> float:
        return 0.0

    def maximum(self) -> float:
        return HIGH
