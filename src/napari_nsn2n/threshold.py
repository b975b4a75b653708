"""Suggesting the threshold th of Eq. 3 from the statistics of the LPF differences.

The paper picks th by eye with two conditions: (1) W = 0 must cover the structural differences
between neighbouring slices; (2) leftover noise after the LPF must not be taken for structure.

Rule (``suggest_threshold``)::

    d   = the non-zero values of |LPF_i - LPF_{i+1}|  (exact zeros are constant regions, e.g. the
          air outside a CT field of view, and carry no noise information)
    s   = scale of the residual-noise component, modelled as half-normal |N(0, s^2)| and fitted to
          the lower part of d: s = Q_d(0.5 (1 - f)) / 0.6745, where f is the fraction of d in the
          structural tail (d > 5 s, less the half-normal's own share above 5 s), re-estimated
          with s until it settles (fixed point, 20 iterations at most)
    th  = k * s,  k = 10 for a run of up to 800 optimiser steps, 5 from 2400 steps on (linear in
          log steps between, ``k_for_budget``); k = 5 at any budget where the LPF was tuned for
          noise correlated within slices

The tail correction removes the bias of a plain median (which reads the structural tail as noise
and grows with the amount of structure): on the benchmark cases s agrees within 15 % with the
median of the differences in regions where the clean slices are identical (docs/benchmarks.md).
The LPF behind d is tuned with the inter-slice noise estimate where the noise is correlated within
a slice (``masks.lpf_noise_estimate``); without that, smooth CT noise survived the LPF as blotches
and inflated s.

k is far above the 2.6-3.3 of a half-normal 99-99.9 % quantile: the residual noise after non-local
means is heavier-tailed than a half-normal (patches the NLM did not average); at the suggestion
condition (2) holds for 96.7-100 % of the noise-only pixels of the benchmark cases. Beyond that the
two values were **chosen on the six benchmark cases' PSNR sweeps** (docs/benchmarks.md): matching
slowly changing structure as well pays more than the z-blur it costs at about 10 s after an
in-plane-tuned LPF (MRI, fluorescence), and at 5 s of the smaller residual left by the LPF tuned
to correlated noise (CT). They are checked on two cases held out from the choice (another CT filter
and dose, fluorescence at a third of the photons). The best k falls with the training budget: at
2400 steps k = 5 beat k = 10 on fluorescence by 0.9 dB (1.8 dB at 4800), so k moves from 10 to 5
between 800 and 2400 planned steps (``k_for_budget``; measured on MRI and fluorescence, the
uncorrelated-noise cases). ``suggest_threshold`` takes k; the pipeline
(``api.PairDifferences.suggest_threshold``) picks it from the LPF's noise estimate and the run's
planned steps (``TrainConfig.planned_steps``).

Limits: a stack where most pixels change between slices (f > ~0.5) breaks the "noise is the bulk"
assumption and the suggestion is too high; for a stack that is almost noise-free the suggestion goes
to the ``floor``. At k = 10 condition (1) leaves structural differences below ~10 s matched (about
half of the MRI phantom's > 0.02 differences): the suggestion trades them for training signal, as
the 800-step sweeps favour; lower th (the slider) where fine moving structure matters more than
noise. At 4800 steps k = 2.5-3.75 was 0.15-0.17 dB above k = 5 on fluorescence (one seed); k
stays 5 for every budget from 2400 steps on.
"""

from __future__ import annotations

import math

import numpy as np

HALF_NORMAL_MEDIAN = 0.6744897501960817
DEFAULT_K = 10.0  # runs of up to SHORT_RUN_STEPS optimiser steps
LONG_RUN_K = 5.0  # runs of LONG_RUN_STEPS steps or more
SHORT_RUN_STEPS = 800
LONG_RUN_STEPS = 2400
CORRELATED_K = 5.0  # where the LPF was tuned for noise correlated within slices (masks.py)
TAIL_K = 5.0  # differences above TAIL_K * s count as the structural tail in the fit of s


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
    for correlated noise; otherwise ``DEFAULT_K`` up to ``SHORT_RUN_STEPS`` (and when ``steps`` is
    unknown), ``LONG_RUN_K`` from ``LONG_RUN_STEPS`` on, linear in log(steps) in between (1500
    steps: k = 7.1). A longer run fits the z-blur of matched structure more closely, so it wants
    less structure matched (docs/benchmarks.md, "Threshold and training budget")."""
    if correlated_noise:
        return CORRELATED_K
    if steps is None or steps <= SHORT_RUN_STEPS:
        return DEFAULT_K
    if steps >= LONG_RUN_STEPS:
        return LONG_RUN_K
    t = math.log(steps / SHORT_RUN_STEPS) / math.log(LONG_RUN_STEPS / SHORT_RUN_STEPS)
    return DEFAULT_K + t * (LONG_RUN_K - DEFAULT_K)


def suggest_threshold(differences: np.ndarray, k: float = DEFAULT_K, floor: float = 1e-4) -> float:
    """th = k * s, s the tail-corrected residual-noise scale (module docstring); ``differences``
    as from ``masks.lpf_differences`` on the [0, 1]-normalised stack. Never below ``floor``."""
    return float(max(k * residual_noise_scale(differences), floor))
