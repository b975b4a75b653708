"""Rician bias correction (rician.py) and its use by the engine: real Rician samples, real runs."""

from __future__ import annotations

import numpy as np
import pytest

from napari_nsn2n.config import TrainConfig
from napari_nsn2n.errors import NSN2NError
from napari_nsn2n.method.rician import (
    RICIAN_FLOOR,
    estimate_rician_sigma,
    remove_rician_bias,
    rician_mean,
)
from napari_nsn2n.pipeline import apply_model, denoise
from napari_nsn2n.samples import mri_stack

TINY = TrainConfig(
    epochs=1, base_channels=8, patch_size=32, batch_size=4, device="cpu", num_threads=1
)


def _rician(signal: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    n1, n2 = rng.standard_normal((2, *np.shape(signal))) * sigma
    return np.sqrt((signal + n1) ** 2 + n2**2)


def test_rician_mean_matches_sampled_magnitudes():
    rng = np.random.default_rng(0)
    sigma = 0.7
    signals = np.array([0.0, 0.3, 1.0, 2.0, 5.0, 30.0])
    samples = _rician(np.repeat(signals[:, None], 200_000, axis=1), sigma, rng)
    np.testing.assert_allclose(samples.mean(axis=1), rician_mean(signals, sigma), rtol=4e-3)
    assert rician_mean(0.0, sigma) == pytest.approx(sigma * np.sqrt(np.pi / 2))


def test_remove_bias_inverts_the_mean_and_floors_the_background():
    sigma = 0.05
    signal = np.concatenate([np.linspace(0.02, 3.0, 500), [10.0, 50.0]])  # up past the table
    np.testing.assert_allclose(
        remove_rician_bias(rician_mean(signal, sigma), sigma), signal, rtol=2e-3, atol=1e-4
    )
    floor = RICIAN_FLOOR * sigma
    assert np.all(remove_rician_bias(np.array([0.0, 0.5 * floor, floor]), sigma) == 0)
    assert remove_rician_bias(np.array([1.2 * floor]), sigma)[0] > 0
    with pytest.raises(NSN2NError):
        remove_rician_bias(np.ones(3), 0.0)


@pytest.mark.parametrize("level", [0.05, 0.09])
def test_sigma_estimate_on_a_rician_phantom(level):
    sample = mri_stack((12, 128, 128), level=level)
    truth = level * float(sample.clean.max())
    assert estimate_rician_sigma(sample.noisy) == pytest.approx(truth, rel=0.08)
    with pytest.raises(NSN2NError, match="magnitude"):
        estimate_rician_sigma(sample.noisy - 0.5)


def test_denoise_with_rician_removes_the_floor_and_matches_the_plain_run():
    sample = mri_stack((8, 64, 64), level=0.05)
    background = sample.clean == 0
    plain, plain_model = denoise(sample.noisy, 0.05, TINY, return_model=True)
    fixed, model = denoise(sample.noisy, 0.05, TINY, rician=True, return_model=True)
    sigma = model.meta["rician_sigma"]
    assert plain_model.meta["rician_sigma"] is None
    assert sigma == pytest.approx(0.05 * float(sample.clean.max()), rel=0.25)
    # the same (deterministic) training, then the inverse of the Rician mean
    np.testing.assert_allclose(fixed, remove_rician_bias(plain, sigma), atol=1e-5)
    assert plain[background].mean() > 0.8 * RICIAN_FLOOR * sigma
    # one epoch leaves much noise, and noise above the floor stays: still most of the floor goes
    assert fixed[background].mean() < 0.5 * plain[background].mean()
    tissue = sample.clean > 0.2
    assert (
        np.abs(fixed - sample.clean)[tissue].mean()
        < np.abs(plain - sample.clean)[tissue].mean() + 1e-3
    )  # little bias in bright tissue: the correction barely moves it
    given = denoise(sample.noisy, 0.05, TINY, rician=0.04)
    np.testing.assert_allclose(given, remove_rician_bias(plain, 0.04), atol=1e-5)
    applied = apply_model(model, sample.noisy, device="cpu", rician=sigma)
    np.testing.assert_allclose(applied, fixed, atol=1e-4)


def test_rician_refuses_data_with_negative_values():
    sample = mri_stack((6, 48, 48), level=0.05)
    with pytest.raises(NSN2NError, match="magnitude"):
        denoise(sample.noisy - 0.2, 0.05, TINY, rician=True)
    with pytest.raises(NSN2NError, match="> 0"):
        denoise(sample.noisy, 0.05, TINY, rician=-1.0)
