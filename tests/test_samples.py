"""Synthetic sample stacks: shapes, determinism, noise models (real generation, small sizes)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from napari_nsn2n import samples
from napari_nsn2n.metrics import psnr, ssim_per_slice
from napari_nsn2n.samples import (
    SAMPLES,
    SampleStack,
    ct_stack,
    microscopy_stack,
    mri_stack,
    phantom_volume,
)

CT_SHAPE = (8, 64, 64)
SMALL = (8, 64, 64)


def lag1_corr(noise: np.ndarray, axis: int, mask: np.ndarray | None = None) -> float:
    """Correlation between neighbours along ``axis`` (pairs where both lie in ``mask``)."""
    a = np.moveaxis(np.asarray(noise, dtype=np.float64), axis, -1)
    first, second = a[..., :-1], a[..., 1:]
    if mask is not None:
        m = np.moveaxis(mask, axis, -1)
        keep = m[..., :-1] & m[..., 1:]
        first, second = first[keep], second[keep]
    return float(np.corrcoef(first.ravel(), second.ravel())[0, 1])


@pytest.fixture(scope="module")
def ct_ramp() -> SampleStack:
    return ct_stack(CT_SHAPE, filter_name="ramp", seed=0)


@pytest.fixture(scope="module")
def ct_hann() -> SampleStack:
    return ct_stack(CT_SHAPE, filter_name="hann", seed=0)


def head_mask(stack: SampleStack) -> np.ndarray:
    return stack.clean > -500


def test_phantom_range_shape_and_determinism() -> None:
    vol = phantom_volume(SMALL, seed=0)
    assert vol.shape == SMALL and vol.dtype == np.float32
    assert vol.min() >= 0.0 and vol.max() <= 1.0 and vol.max() > 0.8
    assert vol[:, 0, 0].max() == 0.0  # air background
    np.testing.assert_array_equal(vol, phantom_volume(SMALL, seed=0))
    assert not np.array_equal(vol, phantom_volume(SMALL, seed=1))


def test_phantom_neighbouring_slices_differ_a_little() -> None:
    vol = phantom_volume((24, 64, 64), seed=0)
    diffs = np.abs(np.diff(vol, axis=0)).mean(axis=(1, 2))
    assert np.all(diffs > 0)  # real structural changes between every pair of slices...
    assert diffs.max() < 0.2 * vol.mean(axis=(1, 2)).max()  # ...but small ones
    assert diffs.max() < 0.75 * np.abs(vol[6] - vol[18]).mean()  # smaller than far apart
    # small structures appear / disappear within the stack: per-slice level sets change
    assert len({int((s > 0.9).sum()) for s in vol}) > 3


def test_ct_levels_in_hu(ct_ramp: SampleStack) -> None:
    clean = ct_ramp.clean
    assert ct_ramp.noisy.shape == clean.shape == CT_SHAPE
    assert ct_ramp.noisy.dtype == clean.dtype == np.float32
    assert ct_ramp.units == "HU"
    assert abs(float(clean[:, 0, 0].mean()) + 1000) < 30  # air
    centre = clean[:, 28:36, 28:36]
    assert -20 < float(np.median(centre)) < 80  # brain / soft tissue
    assert float(clean.max()) > 500  # skull
    spacing = ct_ramp.spacing
    assert len(spacing) == 3 and spacing[0] >= spacing[1] == spacing[2] > 0


def test_ct_noise_correlated_in_slice_not_across(ct_ramp: SampleStack) -> None:
    noise = (ct_ramp.noisy - ct_ramp.clean).astype(np.float64)
    head = head_mask(ct_ramp)
    assert abs(float(noise[head].mean())) < 0.2 * float(noise[head].std())
    in_slice = max(lag1_corr(noise, 1, head), lag1_corr(noise, 2, head))
    across = lag1_corr(noise, 0, head)
    assert in_slice > 0.2  # FBP streaks (measured ~0.3 along y for ramp)
    assert abs(across) < 0.1  # slices are reconstructed independently


def test_hann_noise_smoother_than_ramp(ct_ramp: SampleStack, ct_hann: SampleStack) -> None:
    head = head_mask(ct_ramp)
    ramp_noise = ct_ramp.noisy - ct_ramp.clean
    hann_noise = ct_hann.noisy - ct_hann.clean
    assert hann_noise[head].std() < 0.6 * ramp_noise[head].std()
    assert min(lag1_corr(hann_noise, 1, head), lag1_corr(hann_noise, 2, head)) > 0.3
    assert abs(lag1_corr(hann_noise, 0, head)) < 0.1


def test_ct_dose_lowers_noise() -> None:
    low = ct_stack((2, 64, 64), dose=1e4)
    high = ct_stack((2, 64, 64), dose=1e6)
    assert (high.noisy - high.clean).std() < 0.3 * (low.noisy - low.clean).std()


def test_ct_rejects_non_square() -> None:
    with pytest.raises(ValueError):
        ct_stack((2, 32, 48))
    with pytest.raises(ValueError):
        ct_stack((2, 32, 32), filter_name="gauss")


@pytest.mark.parametrize(("level", "threshold"), [(0.05, 0.01), (0.07, 0.03), (0.09, 0.05)])
def test_rician_background_and_paper_thresholds(level: float, threshold: float) -> None:
    stack = mri_stack(SMALL, level=level, seed=0)
    assert stack.suggested_threshold == pytest.approx(threshold)
    assert stack.noisy.shape == stack.clean.shape == SMALL
    assert stack.noisy.dtype == np.float32 and stack.noisy.min() >= 0
    sigma = level * float(stack.clean.max())
    background = stack.clean == 0
    assert background.sum() > 1000
    expected = sigma * math.sqrt(math.pi / 2)  # Rayleigh mean
    assert float(stack.noisy[background].mean()) == pytest.approx(expected, rel=0.15)
    # well inside the head the noise is nearly Gaussian with std sigma
    bright = stack.clean > 0.7
    assert float((stack.noisy - stack.clean)[bright].std()) == pytest.approx(sigma, rel=0.15)


def test_mri_threshold_interpolates() -> None:
    assert 0.01 < mri_stack((2, 32, 32), level=0.06).suggested_threshold < 0.03
    assert 0 < mri_stack((2, 32, 32), level=0.02).suggested_threshold < 0.01


def test_microscopy_poisson_gaussian() -> None:
    stack = microscopy_stack((8, 128, 128), photons=200.0, read_noise=2.0, seed=0)
    assert stack.noisy.dtype == np.uint16 and stack.clean.dtype == np.float32
    assert stack.noisy.shape == stack.clean.shape == (8, 128, 128)
    assert stack.units == "counts"
    residual = stack.noisy.astype(np.float64) - stack.clean
    assert abs(float(residual.mean())) < 0.5
    signal = stack.clean - float(stack.clean.min())
    dim, bright = signal < 5, signal > 60
    assert dim.sum() > 1000 and bright.sum() > 200
    var_dim, var_bright = residual[dim].var(), residual[bright].var()
    assert var_bright > 3 * var_dim  # Poisson: variance grows with the signal
    # gain 1: variance ~ expected photons + read noise^2 + rounding
    expected = float(np.mean(stack.clean[bright] - 100.0)) + 4.0 + 1 / 12
    assert var_bright == pytest.approx(expected, rel=0.25)


@pytest.mark.parametrize(
    "make",
    [
        lambda seed: ct_stack((2, 32, 32), seed=seed),
        lambda seed: mri_stack((2, 32, 32), seed=seed),
        lambda seed: microscopy_stack((4, 48, 48), seed=seed),
    ],
    ids=["ct", "mri", "microscopy"],
)
def test_determinism_by_seed(make) -> None:
    a, b, c = make(0), make(0), make(1)
    np.testing.assert_array_equal(a.noisy, b.noisy)
    np.testing.assert_array_equal(a.clean, b.clean)
    assert not np.array_equal(a.noisy, c.noisy)


def test_metadata_and_registry() -> None:
    assert set(SAMPLES) == {"ct", "mri", "microscopy"}
    assert all(callable(f) for f in SAMPLES.values())
    stack = mri_stack((2, 32, 32))
    with pytest.raises(dataclasses.FrozenInstanceError):
        stack.name = "x"  # type: ignore[misc]
    for s in (stack, microscopy_stack((4, 32, 32)), ct_stack((1, 32, 32))):
        assert "BSD-3-Clause" in s.description and s.name
        assert 0 < s.suggested_threshold < 0.2
        assert len(s.spacing) == 3 and all(v > 0 for v in s.spacing)


def test_psnr_and_ssim_helpers() -> None:
    rng = np.random.default_rng(0)
    clean = rng.uniform(0, 1, (3, 32, 32))
    assert psnr(clean, clean) == math.inf
    test = clean + 0.1
    assert psnr(clean, test, data_range=1.0) == pytest.approx(20.0)
    mask = np.zeros(clean.shape, bool)
    mask[:, :8] = True
    test2 = clean.copy()
    test2[:, 8:] += 0.5  # error outside the mask only
    assert psnr(clean, test2, data_range=1.0, mask=mask) == math.inf
    ssim = ssim_per_slice(clean, clean)
    assert ssim.shape == (3,) and np.allclose(ssim, 1.0)
    assert np.all(ssim_per_slice(clean, clean + rng.normal(0, 0.3, clean.shape)) < 0.9)
    with pytest.raises(ValueError):
        psnr(clean, clean[:2])


def test_module_has_no_gui_imports() -> None:
    with open(samples.__file__, encoding="utf-8") as handle:
        source = handle.read()
    assert "napari" not in source.replace("napari_nsn2n", "") and "qtpy" not in source
