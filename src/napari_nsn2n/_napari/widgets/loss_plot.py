"""A small live loss plot (log y) that never redraws its history from scratch.

``LossPlot.append(step, {"loss": .., "recon": .., "rc": .., "ic": ..})`` adds one point per series
with ``QPainterPath.lineTo`` (O(1)); the axes, grid and labels are drawn once into a cached
``QPixmap`` and only redrawn on a resize or when the data leave the current view range, which then
grows by 2x in x or by a decade in log y (so a run of N steps rescales O(log N) times).
"""

from __future__ import annotations

import math

from qtpy.QtCore import QPointF, QRectF, Qt
from qtpy.QtGui import QColor, QFont, QPainter, QPainterPath, QPen, QPixmap, QTransform
from qtpy.QtWidgets import QSizePolicy, QWidget

SERIES = (
    ("loss", "total", "#f0f0f0"),
    ("recon", "recon", "#4fa3ff"),
    ("rc", "RC", "#ffb347"),
    ("ic", "IC", "#7ddc6f"),
)
_FLOOR = 1e-12  # log of 0 is clamped here


class LossPlot(QWidget):
    """Loss terms against the optimiser step, log y. API: ``append(step, values)``, ``clear()``."""

    MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 44, 8, 18, 20

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._background: QPixmap | None = None
        self.rescales = 0  # how often the view range grew (for tests / diagnostics)
        self.clear()

    # ----------------------------------------------------------------------------------- API
    def clear(self) -> None:
        self._paths = {key: QPainterPath() for key, _, _ in SERIES}
        self._count = 0
        self._last: dict[str, float] = {}
        self._x_max = 10.0
        self._y_lo, self._y_hi = -3.0, 0.0  # log10 range
        self._background = None
        self.update()

    @property
    def n_points(self) -> int:
        return self._count

    def append(self, step: int, values: dict[str, float]) -> None:
        """Add one point per known series present in ``values`` (non-finite values are skipped)."""
        x = float(step)
        grew = False
        while x > self._x_max:
            self._x_max *= 2.0
            grew = True
        for key, _, _ in SERIES:
            value = values.get(key)
            if value is None or not math.isfinite(value):
                continue
            y = math.log10(max(float(value), _FLOOR))
            while y < self._y_lo:
                self._y_lo -= 1.0
                grew = True
            while y > self._y_hi:
                self._y_hi += 1.0
                grew = True
            path = self._paths[key]
            if path.elementCount() == 0:
                path.moveTo(x, y)
            else:
                path.lineTo(x, y)
            self._last[key] = float(value)
        self._count += 1
        if grew:
            self.rescales += 1
            self._background = None
        self.update()

    # ------------------------------------------------------------------------------ drawing
    def _plot_rect(self) -> QRectF:
        return QRectF(
            self.MARGIN_L,
            self.MARGIN_T,
            max(1, self.width() - self.MARGIN_L - self.MARGIN_R),
            max(1, self.height() - self.MARGIN_T - self.MARGIN_B),
        )

    def _transform(self) -> QTransform:
        rect = self._plot_rect()
        sx = rect.width() / self._x_max
        sy = rect.height() / (self._y_hi - self._y_lo)
        # data (x, log y) -> pixels: x to the right, larger y up
        return QTransform(sx, 0, 0, -sy, rect.left(), rect.bottom() + self._y_lo * sy)

    def resizeEvent(self, event) -> None:
        self._background = None
        super().resizeEvent(event)

    def _draw_background(self) -> QPixmap:
        ratio = self.devicePixelRatioF()
        pixmap = QPixmap(int(self.width() * ratio), int(self.height() * ratio))
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(QColor("#262930"))
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        rect = self._plot_rect()
        small = QFont(painter.font())
        small.setPointSizeF(max(6.5, small.pointSizeF() * 0.8))
        painter.setFont(small)
        grid = QPen(QColor("#41444d"))
        text = QColor("#b0b4bc")
        transform = self._transform()
        for decade in range(int(self._y_lo), int(self._y_hi) + 1):
            y = transform.map(QPointF(0, decade)).y()
            painter.setPen(grid)
            painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
            painter.setPen(text)
            painter.drawText(
                QRectF(0, y - 8, self.MARGIN_L - 4, 16),
                int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                f"1e{decade}",
            )
        for k in range(5):
            x_val = self._x_max * k / 4
            x = transform.map(QPointF(x_val, 0)).x()
            painter.setPen(grid)
            painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
            painter.setPen(text)
            painter.drawText(
                QRectF(x - 30, rect.bottom() + 2, 60, 16),
                int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop),
                f"{x_val:g}",
            )
        painter.setPen(QPen(QColor("#8a8f99")))
        painter.drawRect(rect)
        # legend
        x = rect.left() + 4
        for _, label, colour in SERIES:
            painter.setPen(QPen(QColor(colour), 2))
            painter.drawLine(QPointF(x, 9), QPointF(x + 14, 9))
            painter.setPen(text)
            painter.drawText(QPointF(x + 17, 13), label)
            x += 26 + painter.fontMetrics().horizontalAdvance(label)
        painter.setPen(text)
        painter.drawText(
            QRectF(0, 0, self.width() - 4, 16),
            int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
            "step",
        )
        painter.end()
        return pixmap

    def paintEvent(self, event) -> None:
        if self._background is None:
            self._background = self._draw_background()
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._background)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setClipRect(self._plot_rect())
        painter.setTransform(self._transform())
        # the total is drawn first and wider: it often lies on the recon term (RC, IC small),
        # which then shows as a blue line with a white outline
        for key, _, colour in SERIES:
            pen = QPen(QColor(colour), 3.0 if key == "loss" else 1.3)
            pen.setCosmetic(True)  # width in pixels, whatever the transform
            painter.setPen(pen)
            painter.drawPath(self._paths[key])
        painter.end()
