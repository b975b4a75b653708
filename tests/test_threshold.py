"""suggest_threshold: the blind th of Eq. 3 from the LPF differences (rule in threshold.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from conftest import correlated_noise_stack
from napari_nsn2n.method.threshold import residual_noise_scale, suggest_threshold
from napari_nsn2n.pipeline import compute_differences
from napari_nsn2n.samples import ct_stack, mri_stack
from napari_nsn2n.tuned import SHORT_RUN_K as DEFAULT_K


def synthetic(scale: float, tail_fraction: float, n: int = 200_000, seed: int = 0) -> np.ndarray:
    """Half-normal residual noise of known scale plus a sparse structural tail (0.05 .. 0.4)."""
    rng = np.random.default_rng(seed)
    values = np.abs(rng.normal(0.0, scale, n)).astype(np.float32)
    tail = rng.random(n) < tail_fraction
    values[tail] = rng.uniform(0.05, 0.4, int(tail.sum()))
    return values.reshape(20, 100, 100)


@pytest.mark.parametrize("tail_fraction", [0.0, 0.05, 0.2, 0.35])
def test_scale_recovered_despite_the_structural_tail(tail_fraction):
    s = 0.005
    assert residual_noise_scale(synthetic(s, tail_fraction)) == pytest.approx(s, rel=0.05)
    assert suggest_threshold(synthetic(s, tail_fraction)) == pytest.approx(DEFAULT_K * s, rel=0.05)


def test_insensitive_to_the_tail_fraction_unlike_a_plain_median():
    ths = [suggest_threshold(synthetic(0.005, f)) for f in (0.0, 0.1, 0.3)]
    assert max(ths) / min(ths) < 1.06
    # the old placeholder (3 x median / 0.6745) drifts by > 40 % over the same range
    medians = [np.median(synthetic(0.005, f)) for f in (0.0, 0.3)]
    assert medians[1] / medians[0] > 1.4


def test_th_separates_noise_from_structure():
    d = synthetic(0.004, 0.15)
    th = suggest_threshold(d)
    noise = np.abs(np.random.default_rng(1).normal(0.0, 0.004, 100_000))
    assert np.mean(noise <= th) > 0.999  # condition (2): residual noise stays matched
    assert th < 0.05  # condition (1): every structural difference (>= 0.05) is W = 0


def test_monotone_and_proportional_in_noise_scale():
    scales = [0.001, 0.003, 0.01, 0.03]
    ths = [suggest_threshold(synthetic(s, 0.1)) for s in scales]
    assert all(a < b for a, b in itertools.pairwise(ths))
    for s, th in zip(scales, ths, strict=True):
        assert th / s == pytest.approx(DEFAULT_K, rel=0.1)


def test_all_zero_and_zero_padding():
    zeros = np.zeros((3, 16, 16), np.float32)
    th = suggest_threshold(zeros)
    assert np.isfinite(th) and 0 < th <= 1e-3
    # exact zeros (e.g. CT air outside the field of view) do not pull the estimate down
    d = synthetic(0.005, 0.1)
    padded = np.concatenate([d, np.zeros_like(d)], axis=0)
    assert suggest_threshold(padded) == pytest.approx(suggest_threshold(d), rel=0.02)


def test_empty_and_nan_tolerated():
    d = synthetic(0.005, 0.1)
    d.ravel()[:100] = np.nan
    assert suggest_threshold(d) == pytest.approx(DEFAULT_K * 0.005, rel=0.06)


@pytest.fixture(scope="module")
def real_thresholds():
    shape = (12, 128, 128)
    stacks = {
        "ct": ct_stack(shape),
        "mri5": mri_stack(shape, level=0.05),
        "mri9": mri_stack(shape, level=0.09),
    }
    return {
        name: (compute_differences(s.noisy, workers=1).suggest_threshold(), s.suggested_threshold)
        for name, s in stacks.items()
    }


# th whose PSNR came within 0.2 dB of the best in the benchmark sweeps (docs/benchmarks.md,
# (32, 128, 128) stacks, 800 steps; CT ramp, MRI 5 %, MRI 9 %)
SWEEP_GOOD = {"ct": (0.0021, 0.0085), "mri5": (0.0228, 0.05), "mri9": (0.0187, 0.0749)}


def test_real_stacks_are_near_the_sweep_optimum(real_thresholds):
    for name, (auto, _) in real_thresholds.items():
        low, high = SWEEP_GOOD[name]
        assert low / 2 <= auto <= high * 2, (name, auto)
    assert real_thresholds["mri9"][0] > real_thresholds["mri5"][0] * 1.3


def test_k_follows_the_lpf_noise_estimate():
    """k = 5 where the LPF was tuned for noise correlated within slices, 10 otherwise."""
    from napari_nsn2n.method.threshold import CORRELATED_K

    _, white = correlated_noise_stack(shape=(8, 64, 64), sigma=0.02, blur=0)
    _, correlated = correlated_noise_stack(shape=(8, 64, 64), sigma=0.02, blur=1.5)
    for stack, flag, k in ((white, False, DEFAULT_K), (correlated, True, CORRELATED_K)):
        diffs = compute_differences(stack, workers=1)
        assert diffs.correlated_noise is flag
        s = residual_noise_scale(np.asarray(diffs.differences))
        assert diffs.suggest_threshold() == pytest.approx(k * s, rel=1e-6)


def test_k_falls_with_the_planned_training_budget():
    """k = 10 up to 800 steps, 5 from 2400 on, monotone in between; CT-like LPF: 5 at any budget."""
    from napari_nsn2n.method.threshold import CORRELATED_K, LONG_RUN_K, k_for_budget

    assert k_for_budget(None) == k_for_budget(100) == k_for_budget(800) == DEFAULT_K
    assert k_for_budget(2400) == k_for_budget(100_000) == LONG_RUN_K
    ks = [k_for_budget(s) for s in (800, 1000, 1500, 2000, 2400)]
    assert all(a > b for a, b in itertools.pairwise(ks))
    assert k_for_budget(1500) == pytest.approx(7.14, abs=0.01)
    assert {k_for_budget(s, correlated_noise=True) for s in (None, 100, 1500, 9000)} == {
        CORRELATED_K
    }


def test_suggestion_plans_for_the_config_it_will_train():
    """PairDifferences.suggest_threshold(config): k from the steps the config trains on this stack."""
    from napari_nsn2n.config import TrainConfig
    from napari_nsn2n.method.threshold import LONG_RUN_K

    _, white = correlated_noise_stack(shape=(8, 64, 64), sigma=0.02, blur=0)
    diffs = compute_differences(white, workers=1)
    s = residual_noise_scale(np.asarray(diffs.differences))
    short = TrainConfig(epochs=5, patch_size=None, batch_size=7)  # 7 pairs: 1 step per epoch
    long = TrainConfig(epochs=2, min_steps=3000, patch_size=32, batch_size=4)
    assert diffs.planned_steps(short) == 5
    assert diffs.planned_steps(long) == 3003  # 7 pairs x 4 patches / 4 = 7 steps x 429 epochs
    assert diffs.suggest_threshold(short) == pytest.approx(DEFAULT_K * s, rel=1e-6)
    assert diffs.suggest_threshold(long) == pytest.approx(LONG_RUN_K * s, rel=1e-6)
    assert diffs.suggest_threshold() == diffs.suggest_threshold(short)
