"""Suggesting the threshold th of Eq. 3 from the statistics of the LPF differences.

The paper picks th by eye with two conditions: (1) W = 0 must cover the structural differences
between neighbouring slices; (2) leftover noise after the LPF must not be taken for structure.
In matched regions |LPF_i - LPF_{i+1}| is residual noise, roughly half-normal with scale s; its
median is 0.674 s, robust to the (sparse) structural tail. We set th = k * s, the smallest value that
keeps all but a tail of the residual noise matched (condition 2); larger differences are structure
(condition 1).
"""

from __future__ import annotations

import numpy as np

HALF_NORMAL_MEDIAN = 0.6744897501960817


def residual_noise_scale(
    differences: np.ndarray, max_samples: int = 2_000_000, seed: int = 0
) -> float:
    """Robust scale s of the residual-noise part of |LPF_i - LPF_{i+1}|."""
    flat = np.asarray(differences, dtype=np.float32).ravel()
    if flat.size > max_samples:
        flat = np.random.default_rng(seed).choice(flat, max_samples, replace=False)
    return float(np.median(flat) / HALF_NORMAL_MEDIAN)


def suggest_threshold(differences: np.ndarray, k: float = 3.0) -> float:
    """th = k * s (see module docstring); ``differences`` as from ``masks.lpf_differences``."""
    return float(max(k * residual_noise_scale(differences), 1e-6))
