"""Image-quality measures on constructed cases whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.special import erf

from napari_nsn2n.metrics import edge_gain, insert_contrast, insert_rings


def stripe_case(width: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """A bright vertical stripe (an insert uniform along y) on a flat background, 3 slices."""
    clean = np.zeros((3, 48, 64))
    inserts = np.zeros(clean.shape, np.uint16)
    clean[:, :, 29 : 29 + width] = 100.0
    inserts[:, :, 29 : 29 + width] = 1
    return clean, inserts


def blurred_box_mean(columns: np.ndarray, low: float, high: float, sigma: float) -> np.ndarray:
    """A unit box on [low, high) blurred by a Gaussian of ``sigma``, at pixel centres ``columns``."""
    s = sigma * math.sqrt(2)
    return 0.5 * (erf((columns + 0.5 - low) / s) - erf((columns + 0.5 - high) / s))


def test_identical_copy_keeps_all_contrast_and_offsets_do_not_count() -> None:
    clean, inserts = stripe_case()
    (result,) = insert_contrast(clean, clean, inserts)
    assert result.clean == pytest.approx(100.0) and result.recovered == pytest.approx(1.0)
    (shifted,) = insert_contrast(clean, clean + 37.0, inserts)  # contrast is a difference
    assert shifted.recovered == pytest.approx(1.0)
    halved = insert_contrast(clean, 0.5 * clean, inserts)[0]
    assert halved.recovered == pytest.approx(0.5)


def test_blurred_copy_loses_the_contrast_the_gaussian_predicts() -> None:
    clean, inserts = stripe_case(width=6)
    sigma = 2.0
    blurred = ndimage.gaussian_filter(clean, (0, 0, sigma), mode="nearest")
    (result,) = insert_contrast(clean, blurred, inserts, gap=1, width=3)
    columns = np.arange(64)
    profile = 100.0 * blurred_box_mean(columns, 29, 35, sigma)
    inside = profile[29:35].mean()
    ring = np.r_[profile[25:28], profile[36:39]].mean()  # 1 px gap, 3 px wide, both sides
    assert result.ring_voxels == 3 * 48 * 6
    assert result.recovered == pytest.approx((inside - ring) / 100.0, abs=0.01)
    assert 0.3 < result.recovered < 0.8  # a real loss, not a rounding


def test_noise_does_not_bias_the_contrast() -> None:
    clean, inserts = stripe_case()
    noisy = clean + np.random.default_rng(0).normal(0, 10, clean.shape)
    (result,) = insert_contrast(clean, noisy, inserts)
    assert result.recovered == pytest.approx(1.0, abs=0.05)


def test_ring_stays_in_the_host_tissue_and_off_other_inserts() -> None:
    clean = np.zeros((1, 40, 40))
    tissues = np.ones(clean.shape, np.uint8)
    tissues[:, :, 20:] = 2  # the insert sits in tissue 1; tissue 2 is much brighter
    clean[tissues == 2] = 500.0
    inserts = np.zeros(clean.shape, np.uint16)
    inserts[0, 18:22, 14:18] = 1
    inserts[0, 10:12, 14:16] = 2  # a second insert near the first
    clean[inserts > 0] = 50.0
    rings = insert_rings(inserts, tissues, gap=1, width=3)
    box, insert, ring = rings[1]
    assert insert.sum() == 16
    labels, host = inserts[box], tissues[box]
    assert not np.any(ring & (labels > 0)) and np.all(host[ring] == 1)
    (first, second) = insert_contrast(clean, clean, inserts, tissues)
    assert first.clean == pytest.approx(50.0) and second.clean == pytest.approx(50.0)
    # without the tissue map the bright neighbour tissue enters the ring
    assert insert_contrast(clean, clean, inserts)[0].clean < 0


def test_shapes_are_checked_and_small_rings_are_left_out() -> None:
    clean, inserts = stripe_case()
    with pytest.raises(ValueError):
        insert_contrast(clean, clean, inserts[:, :10])
    assert insert_contrast(clean[0], clean[0], inserts[0])[0].recovered == pytest.approx(1.0)
    tiny = np.zeros((1, 5, 5), np.uint16)
    tiny[0, 1:4, 1:4] = 1  # the ring would leave the image: fewer than min_ring voxels
    assert insert_contrast(np.zeros((1, 5, 5)), np.zeros((1, 5, 5)), tiny, gap=1) == []
    speck = np.zeros((1, 20, 20), np.uint16)
    speck[0, 10, 10] = 1  # one voxel: too small to measure by default
    image = np.where(speck > 0, 5.0, 0.0)
    assert insert_contrast(image, image, speck) == []
    assert insert_contrast(image, image, speck, min_voxels=1)[0].clean == pytest.approx(5.0)


def test_edge_gain_of_a_blurred_step_matches_the_gaussian() -> None:
    step = np.zeros((2, 40, 64))
    step[:, :, 32:] = 1.0  # edge between columns 31 and 32
    assert edge_gain(step, step, fraction=0.03) == pytest.approx(1.0)
    for b in (1.0, 2.0):
        blurred = ndimage.gaussian_filter(step, (0, 0, b), mode="nearest")
        s_eff = math.sqrt(1.0 + b * b)
        expected = (1.0 / s_eff) * math.exp(0.125 * (1.0 - 1.0 / s_eff**2))  # at +-0.5 px
        assert edge_gain(step, blurred, sigma=1.0, fraction=0.03) == pytest.approx(
            expected, abs=0.02
        )


def test_edge_gain_is_unbiased_by_noise_and_respects_the_mask() -> None:
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:64, :64]
    disk = ((yy - 32) ** 2 + (xx - 32) ** 2 < 20**2).astype(float)[None].repeat(4, 0) * 100
    noisy = disk + rng.normal(0, 10, disk.shape)
    assert edge_gain(disk, noisy) == pytest.approx(1.0, abs=0.05)
    assert edge_gain(disk, 0.5 * disk) == pytest.approx(0.5)
    assert math.isnan(edge_gain(np.zeros((8, 8)), np.zeros((8, 8))))
    mask = np.zeros(disk.shape, bool)
    mask[:, :, :32] = True
    half = disk.copy()
    half[:, :, 32:] = ndimage.gaussian_filter(disk, (0, 3, 3))[:, :, 32:]
    assert edge_gain(disk, half, mask=mask) > 0.95 > edge_gain(disk, half)
