"""Blind estimates of the noise level of a stack: in-plane (wavelet) and across slices.

Both are robust (median-based) estimates of a Gaussian sigma: the median of |N(0, s^2)| is
``HALF_NORMAL_MEDIAN`` s.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..stack import evenly_spaced

HALF_NORMAL_MEDIAN = 0.6744897501960817  # median of |N(0, 1)|


def estimate_noise_sigma(image: np.ndarray) -> float:
    """Donoho's robust noise estimate: median |HH| / 0.6745 of the finest Haar wavelet band."""
    x = np.asarray(image, dtype=np.float32)
    x = x[: x.shape[0] // 2 * 2, : x.shape[1] // 2 * 2]
    diagonal = (x[0::2, 0::2] - x[0::2, 1::2] - x[1::2, 0::2] + x[1::2, 1::2]) * 0.5
    return float(np.median(np.abs(diagonal)) / HALF_NORMAL_MEDIAN)


def estimate_stack_sigma(
    slices: np.ndarray,
    max_slices: int = 16,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> float:
    """Median of per-slice wavelet noise estimates over up to ``max_slices`` evenly spaced slices
    (each passed through ``transform`` first, if given)."""
    transform = transform or np.asarray
    picks = evenly_spaced(len(slices), max_slices)
    return float(np.median([estimate_noise_sigma(transform(slices[i])) for i in picks]))


def estimate_inter_slice_sigma(
    slices: np.ndarray,
    max_pairs: int = 16,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> float:
    """Per-slice noise sigma from neighbouring-slice differences: the median over up to
    ``max_pairs`` evenly spaced pairs of MAD(x_i - x_{i+1}) / 0.6745 / sqrt(2), exact zeros left
    out (constant regions such as the air outside a CT field of view). Noise independent across
    slices makes x_i - x_{i+1} noise of variance 2 sigma^2 plus the (sparse) structural change,
    whatever the noise's in-plane correlation. 0.0 for a single slice."""
    if len(slices) < 2:
        return 0.0
    transform = transform or np.asarray
    values = []
    for i in evenly_spaced(len(slices) - 1, max_pairs):
        a = np.asarray(transform(slices[i]), dtype=np.float32)
        b = np.asarray(transform(slices[i + 1]), dtype=np.float32)
        d = (a - b).ravel()
        d = np.abs(d[d != 0])
        if d.size:
            values.append(float(np.median(d)) / HALF_NORMAL_MEDIAN / math.sqrt(2.0))
    return float(np.median(values)) if values else 0.0
