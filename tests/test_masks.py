"""Weight masks W_i (Eq. 3), the LPF, and threshold handling."""

import numpy as np
import pytest
from scipy.ndimage import median_filter

from conftest import correlated_noise_stack
from napari_nsn2n.method.lowpass import LowpassSettings, lowpass_slice, lpf_noise_sigma
from napari_nsn2n.method.masks import (
    MASK_MATCHED,
    MASK_NO_PAIR,
    MASK_UNMATCHED,
    lpf_differences,
    matched_fraction,
    weight_masks,
)
from napari_nsn2n.method.noise_estimates import (
    estimate_inter_slice_sigma,
    estimate_noise_sigma,
    estimate_stack_sigma,
)
from napari_nsn2n.pipeline import compute_differences


def test_weight_masks_hand_computed():
    lpf = np.array([[[0.10, 0.50]], [[0.105, 0.40]], [[0.2, 0.40]]], dtype=np.float32)
    diffs = lpf_differences(lpf)
    np.testing.assert_allclose(diffs, [[[0.005, 0.1]], [[0.095, 0.0]]], atol=1e-7)
    w = weight_masks(diffs, 0.01)
    assert w.dtype == np.uint8
    np.testing.assert_array_equal(w, [[[1, 0]], [[0, 1]]])
    # th is inclusive (<=), as in Eq. 3
    np.testing.assert_array_equal(weight_masks(diffs, 0.1), [[[1, 1]], [[1, 1]]])
    assert matched_fraction(diffs, 0.01) == pytest.approx(0.5)


def test_lowpass_is_nlm_then_median():
    rng = np.random.default_rng(0)
    image = np.clip(0.5 + 0.1 * rng.standard_normal((32, 32)), 0, 1).astype(np.float32)
    with_median = lowpass_slice(image, 0.1, LowpassSettings(median_size=3))
    without = lowpass_slice(image, 0.1, LowpassSettings(median_size=1))
    np.testing.assert_allclose(
        with_median, median_filter(without, size=3, mode="reflect"), atol=1e-6
    )
    assert with_median.std() < 0.5 * image.std()


def test_noise_sigma_estimate():
    rng = np.random.default_rng(1)
    image = 0.5 + 0.05 * rng.standard_normal((128, 128))
    assert estimate_noise_sigma(image) == pytest.approx(0.05, rel=0.1)


def test_differences_find_structure_and_mask_volume_labels():
    rng = np.random.default_rng(2)
    stack = np.zeros((4, 32, 32), np.float32)
    stack[2:, 8:24, 8:24] = 1.0  # a square appears between slices 1 and 2
    noisy = stack + 0.05 * rng.standard_normal(stack.shape).astype(np.float32)
    diffs = compute_differences(noisy, workers=1)
    assert diffs.differences.shape == (3, 32, 32)
    labels = diffs.mask_volume(0.1)
    assert labels.shape == stack.shape
    assert (labels[-1] == MASK_NO_PAIR).all()
    assert (labels[1, 12:20, 12:20] == MASK_UNMATCHED).all()  # structure changes: W = 0
    assert (labels[0] == MASK_MATCHED).mean() > 0.95  # pure noise: matched
    assert (labels[2] == MASK_MATCHED).mean() > 0.95


def test_lpf_is_reused_for_any_threshold():
    rng = np.random.default_rng(3)
    noisy = rng.random((3, 16, 16)).astype(np.float32)
    diffs = compute_differences(noisy, workers=1)
    low, high = diffs.masks(0.001), diffs.masks(0.5)
    assert low.sum() < high.sum()
    np.testing.assert_array_equal(high, weight_masks(diffs.differences, 0.5))


def _correlated_stack(sigma=0.02, shape=(10, 96, 96)):
    """conftest's stack (structure changing along z, noise correlated within slices and
    independent across them, pixel std ``sigma``) with exact zeros outside a circle, as a CT
    field of view."""
    _, stack = correlated_noise_stack(shape=shape, sigma=sigma, blur=1.5)
    y, x = np.mgrid[: shape[1], : shape[2]]
    stack[:, np.hypot(y - shape[1] / 2, x - shape[2] / 2) > shape[1] / 2 - 2] = 0.0
    return stack


def test_inter_slice_sigma_sees_in_plane_correlated_noise():
    stack = _correlated_stack(sigma=0.02)
    in_plane = estimate_stack_sigma(stack)
    inter = estimate_inter_slice_sigma(stack)
    assert in_plane < 0.5 * 0.02  # the finest wavelet band misses most of smooth noise
    assert inter == pytest.approx(0.02, rel=0.08)  # despite the moving structure and the zeros
    # the LPF takes the inter-slice estimate when it is clearly the larger (correlated noise)
    assert lpf_noise_sigma(stack, LowpassSettings()) == pytest.approx(inter)
    off = LowpassSettings(inter_slice_sigma=False)
    assert lpf_noise_sigma(stack, off) == pytest.approx(in_plane)
    assert estimate_inter_slice_sigma(stack[:1]) == 0.0


def test_inter_slice_sigma_matches_white_noise_estimate():
    rng = np.random.default_rng(1)
    stack = (0.5 + 0.03 * rng.standard_normal((8, 64, 64))).astype(np.float32)
    assert estimate_inter_slice_sigma(stack) == pytest.approx(0.03, rel=0.05)
    assert estimate_stack_sigma(stack) == pytest.approx(0.03, rel=0.08)
    # white noise: both agree, and the LPF keeps the in-plane estimate
    assert lpf_noise_sigma(stack, LowpassSettings()) == estimate_stack_sigma(stack)
