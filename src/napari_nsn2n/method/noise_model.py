"""Signal-dependent noise before the LPF: a Poisson-Gaussian fit and its variance stabilisation.

Photon-limited stacks (fluorescence microscopy, low-count detectors) have noise whose variance
grows with the signal, ``var = a * level + c``. Non-local means with one global ``h`` then
under-smooths the bright structures, their residual noise is several times the background's, and
one threshold th either leaves the bright noise unmatched (condition 2 of the paper fails where
the signal is) or matches real structure in the background. The generalised Anscombe transform

    T(x) = (2 / a) * sqrt(a * x + 3 a^2 / 8 + c)            (noise std ~ 1 at every level)

makes the noise level-independent; it is rescaled by the noise std at the stack's median level, so
the differences (and th) keep the units of the normalised intensity there. It only changes the LPF
input used for the masks W_i; training and inference still see the original data.

The fit: LPF residuals ``x - LPF(x)`` on a few evenly spaced slices, their robust variance (MAD)
in equal-width level bins, and a weighted linear fit of variance against level. ``stabilize="auto"``
applies the transform only when the fit says the noise is clearly signal-dependent (weighted
R^2 >= ``VST_MIN_R2``, a > 0, and the fitted noise std at the top of the level range at least
``VST_MIN_STD_RATIO`` times that at the bottom, the darkest bin left out so that a Rician floor
does not count; both fitted, ``napari_nsn2n.tuned``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..tuned import VST_MIN_R2, VST_MIN_STD_RATIO
from .noise_estimates import HALF_NORMAL_MEDIAN

STABILIZE_MODES = ("auto", "on", "off")
MIN_BIN_PIXELS = 100
MAX_FIT_SLICES = 6
N_BINS = 24


@dataclass(frozen=True)
class PoissonGaussian:
    """``var(level) = a * level + c`` in normalised units, with the fit's quality."""

    a: float
    c: float
    r2: float
    low_level: float
    high_level: float
    median_level: float

    def std(self, level: float | np.ndarray) -> np.ndarray:
        return np.sqrt(np.maximum(self.a * np.asarray(level, dtype=np.float64) + self.c, 1e-12))

    @property
    def std_ratio(self) -> float:
        """Fitted noise std at the top of the fitted level range over that at its bottom."""
        return float(self.std(self.high_level) / self.std(self.low_level))

    @property
    def signal_dependent(self) -> bool:
        return self.a > 0 and self.r2 >= VST_MIN_R2 and self.std_ratio >= VST_MIN_STD_RATIO

    def stabilize(self, image: np.ndarray) -> np.ndarray:
        """Generalised Anscombe transform, scaled to intensity units at the median level."""
        x = np.asarray(image, dtype=np.float32)
        inner = np.maximum(self.a * x + np.float32(0.375 * self.a * self.a + self.c), 0.0)
        scale = np.float32(2.0 / self.a * float(self.std(self.median_level)))
        return (scale * np.sqrt(inner)).astype(np.float32, copy=False)

    def describe(self) -> str:
        return (
            f"Poisson-Gaussian noise fit: std {float(self.std(self.low_level)):.4f} -> "
            f"{float(self.std(self.high_level)):.4f} across levels (R^2 {self.r2:.2f})"
        )


def fit_poisson_gaussian(images: list[np.ndarray], lowpassed: list[np.ndarray]) -> PoissonGaussian:
    """Fit ``var = a * level + c`` to the residuals ``image - lowpassed`` binned by LPF level.

    The darkest bin is left out of the fit: a floor there (Rician magnitude noise, clipping)
    would otherwise pass for a slope; the fitted range is then from the next bin to the top. The
    line is lifted, if needed, to the darkest bin's variance so that the transform stays defined
    (and monotone) down to the darkest pixels.
    """
    level = np.concatenate([np.asarray(p, np.float32).ravel() for p in lowpassed])
    residual = np.concatenate(
        [
            np.asarray(x, np.float32).ravel() - np.asarray(p, np.float32).ravel()
            for x, p in zip(images, lowpassed, strict=True)
        ]
    )
    median = float(np.median(level))
    edges = np.linspace(*np.quantile(level, [0.001, 0.999]), N_BINS + 1)
    which = np.clip(np.searchsorted(edges, level, side="right") - 1, 0, N_BINS - 1)
    centres, variances, weights = [], [], []
    for k in range(N_BINS):
        in_bin = which == k
        values = residual[in_bin]
        if values.size < MIN_BIN_PIXELS:
            continue
        mad = np.median(np.abs(values - np.median(values))) / HALF_NORMAL_MEDIAN
        centres.append(float(np.median(level[in_bin])))
        variances.append(float(mad) ** 2)
        weights.append(np.sqrt(values.size))
    if len(centres) < 5:
        return PoissonGaussian(0.0, 0.0, 0.0, median, median, median)
    m, v, w = (np.asarray(a[1:], dtype=np.float64) for a in (centres, variances, weights))
    design = np.stack([m, np.ones_like(m)], axis=1)
    (a, c), *_ = np.linalg.lstsq(design * w[:, None], v * w, rcond=None)
    mean = np.average(v, weights=w)
    total = float(np.sum(w * (v - mean) ** 2))
    r2 = 1.0 - float(np.sum(w * (v - design @ (a, c)) ** 2)) / total if total > 0 else 0.0
    # never below the darkest bin's own variance there (a negative c would flatten dark pixels)
    c = max(float(c), variances[0] - float(a) * centres[0])
    return PoissonGaussian(float(a), c, r2, float(m[0]), float(m[-1]), median)
