"""Suggesting the threshold th of Eq. 3 from the statistics of the LPF differences.

The paper picks th by eye with two conditions: (1) W = 0 must cover the structural differences
between neighbouring slices; (2) leftover noise after the LPF must not be taken for structure.
The suggestion automates that::

    d   = the non-zero values of |LPF_i - LPF_{i+1}|  (exact zeros are constant regions, e.g. the
          air outside a CT field of view, and carry no noise information)
    s   = scale of the residual-noise component, modelled as half-normal |N(0, s^2)| and fitted to
          the lower part of d: s = Q_d(0.5 (1 - f)) / 0.6745, where f is the fraction of d in the
          structural tail (d > TAIL_K s, less the half-normal's own share there), re-estimated
          with s until it settles (fixed point, 20 iterations at most)
    th  = k s

The tail correction removes the bias of a plain median, which reads the structural tail as noise
and grows with the amount of structure. k is far above a half-normal's 99.9 % quantile (3.3)
because the residual noise after non-local means is heavier-tailed (patches the NLM did not
average). k falls with the training budget (``k_for_budget``): a longer run fits the z-blur of
matched structure more closely, so it wants less structure matched. The values of k are fitted
(``napari_nsn2n.tuned``).

Limits: a stack where most pixels change between slices breaks the "noise is the bulk"
assumption and the suggestion is too high; an almost noise-free stack gets the ``floor``. Look
at the W mask before a long run, and lower th where fine moving structure matters most.
"""

from __future__ import annotations

import math

import numpy as np

from ..tuned import (
    CORRELATED_K,
    LONG_RUN_K,
    LONG_RUN_STEPS,
    SHORT_RUN_K,
    SHORT_RUN_STEPS,
    TAIL_K,
)
from .noise_estimates import HALF_NORMAL_MEDIAN


def _half_normal_tail(k: float) -> float:
    """P(|N(0, 1)| > k)."""
    return math.erfc(k / math.sqrt(2.0))


def _sample(differences: np.ndarray, max_samples: int, seed: int) -> np.ndarray:
    flat = np.asarray(differences, dtype=np.float32).ravel()
    flat = flat[np.isfinite(flat)]
    if flat.size > max_samples:
        flat = np.random.default_rng(seed).choice(flat, max_samples, replace=False)
    return flat


def residual_noise_scale(
    differences: np.ndarray,
    k: float = TAIL_K,
    max_samples: int = 2_000_000,
    seed: int = 0,
    iterations: int = 20,
) -> float:
    """Scale s of the half-normal residual-noise part of |LPF_i - LPF_{i+1}|, corrected for the
    structural tail (see the module docstring). 0.0 when every difference is zero."""
    values = _sample(differences, max_samples, seed)
    values = np.abs(values[values != 0])
    if values.size == 0:
        return 0.0
    values.sort()
    n = values.size

    def quantile(p: float) -> float:
        return float(values[min(n - 1, max(0, int(p * (n - 1))))])

    expected_tail = _half_normal_tail(k)
    scale = quantile(0.5) / HALF_NORMAL_MEDIAN
    for _ in range(iterations):
        above = n - int(np.searchsorted(values, k * scale, side="right"))
        tail = min(max(above / n - expected_tail, 0.0), 0.9)
        new = quantile(0.5 * (1.0 - tail)) / HALF_NORMAL_MEDIAN
        if abs(new - scale) <= 1e-4 * max(scale, 1e-12):
            scale = new
            break
        scale = new
    return float(scale)


def k_for_budget(steps: int | None, correlated_noise: bool = False) -> float:
    """k of th = k s for a run of ``steps`` optimiser steps: ``CORRELATED_K`` after the LPF tuned
    for correlated noise; otherwise ``SHORT_RUN_K`` up to ``SHORT_RUN_STEPS`` (and when ``steps``
    is unknown), ``LONG_RUN_K`` from ``LONG_RUN_STEPS`` on, linear in log(steps) in between."""
    if correlated_noise:
        return CORRELATED_K
    if steps is None or steps <= SHORT_RUN_STEPS:
        return SHORT_RUN_K
    if steps >= LONG_RUN_STEPS:
        return LONG_RUN_K
    t = math.log(steps / SHORT_RUN_STEPS) / math.log(LONG_RUN_STEPS / SHORT_RUN_STEPS)
    return SHORT_RUN_K + t * (LONG_RUN_K - SHORT_RUN_K)


def suggest_threshold(
    differences: np.ndarray, k: float = SHORT_RUN_K, floor: float = 1e-4
) -> float:
    """th = k * s, s the tail-corrected residual-noise scale (module docstring); ``differences``
    as from ``masks.lpf_differences`` on the [0, 1]-normalised stack. Never below ``floor``."""
    return float(max(k * residual_noise_scale(differences), floor))
