"""Signal-dependent noise: the Poisson-Gaussian fit, the variance stabilisation and when it is used."""

import numpy as np
import pytest

from napari_nsn2n.method.lowpass import LowpassSettings, choose_stabilizer
from napari_nsn2n.method.noise_model import fit_poisson_gaussian
from napari_nsn2n.pipeline import compute_differences
from napari_nsn2n.samples import ct_stack, microscopy_stack, mri_stack
from napari_nsn2n.stack import PreparedStack

A, C = 0.004, 0.0004  # var = A * level + C: std 0.02 at level 0, 0.064 at level 1


def _ramp_images(n: int = 4, size: int = 96, seed: int = 0):
    """Clean ramps from 0 to 1 and Poisson-Gaussian noisy copies with var = A * level + C."""
    rng = np.random.default_rng(seed)
    clean = np.tile(np.linspace(0.0, 1.0, size, dtype=np.float32), (size, 1))
    images = []
    for _ in range(n):
        counts = rng.poisson(clean / A).astype(np.float32) * A
        images.append(counts + rng.normal(0.0, np.sqrt(C), clean.shape).astype(np.float32))
    return [clean] * n, images


def test_fit_recovers_the_variance_line():
    clean, noisy = _ramp_images()
    fit = fit_poisson_gaussian(noisy, clean)
    assert fit.a == pytest.approx(A, rel=0.1)
    assert fit.c == pytest.approx(C, rel=0.25)
    assert fit.r2 > 0.9 and fit.signal_dependent


def test_stabilised_noise_has_one_std_at_every_level_in_median_level_units():
    clean, noisy = _ramp_images(n=8)
    fit = fit_poisson_gaussian(noisy, clean)
    z = np.stack([fit.stabilize(x) for x in noisy])
    raw = np.stack(noisy)
    dark, bright = slice(5, 20), slice(76, 91)  # columns near level 0.1 and 0.9
    raw_ratio = raw[..., bright].std(axis=0).mean() / raw[..., dark].std(axis=0).mean()
    vst_ratio = z[..., bright].std(axis=0).mean() / z[..., dark].std(axis=0).mean()
    assert raw_ratio > 1.8
    assert vst_ratio == pytest.approx(1.0, abs=0.1)
    middle = slice(43, 53)  # around the median level 0.5: units kept there
    assert z[..., middle].std(axis=0).mean() == pytest.approx(
        raw[..., middle].std(axis=0).mean(), rel=0.1
    )


def test_constant_noise_is_not_stabilised():
    rng = np.random.default_rng(1)
    clean = [np.tile(np.linspace(0.0, 1.0, 96, dtype=np.float32), (96, 1))] * 4
    noisy = [c + rng.normal(0.0, 0.03, c.shape).astype(np.float32) for c in clean]
    assert not fit_poisson_gaussian(noisy, clean).signal_dependent


def test_auto_picks_the_microscopy_stack_only():
    shape = (8, 96, 96)
    micro = PreparedStack.from_array(microscopy_stack((8, 128, 128)).noisy).slices
    assert choose_stabilizer(micro) is not None
    assert choose_stabilizer(micro, LowpassSettings(stabilize="off")) is None
    for sample in (ct_stack(shape), mri_stack(shape, level=0.07)):
        slices = PreparedStack.from_array(sample.noisy).slices
        assert choose_stabilizer(slices) is None
    with pytest.raises(ValueError, match="stabilize"):
        LowpassSettings(stabilize="always")


def test_stabilised_masks_match_the_noise_on_bright_structures():
    """Condition (2) where the signal is: pixels whose clean neighbours are equal but bright are
    matched far more often at the suggested th with the stabilised LPF."""
    sample = microscopy_stack((10, 128, 128))
    prepared = PreparedStack.from_array(sample.noisy)
    clean = prepared.normalizer.forward(sample.clean)
    level = (clean[:-1] + clean[1:]) / 2
    same = np.abs(clean[:-1] - clean[1:]) < 0.002
    bright_flat = same & (level > np.quantile(level, 0.95))
    matched = {}
    for mode in ("auto", "off"):
        diffs = compute_differences(prepared, settings=LowpassSettings(stabilize=mode), workers=1)
        assert (diffs.stabilizer is not None) == (mode == "auto")
        th = diffs.suggest_threshold()
        matched[mode] = float(np.mean(np.asarray(diffs.differences)[bright_flat] <= th))
        background = same & (level <= np.quantile(level, 0.5))
        assert np.mean(np.asarray(diffs.differences)[background] <= th) > 0.98
    # the bright noise left unmatched (W = 0 where the clean slices agree) shrinks several-fold
    assert 1 - matched["auto"] < 0.25 * (1 - matched["off"]), matched
