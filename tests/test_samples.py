"""Synthetic sample stacks: shapes, determinism, noise models, anatomy and where the small
structures are (real generation, small sizes)."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import math

import numpy as np
import pytest
from scipy import ndimage

from napari_nsn2n import samples
from napari_nsn2n.metrics import insert_contrast, psnr, ssim_per_slice
from napari_nsn2n.samples import (
    SAMPLES,
    SampleStack,
    abdomen_ct_stack,
    brain_mri_stack,
    cells_stack,
    ct_stack,
    microscopy_stack,
    mri_stack,
    mri_threshold,
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
        lambda seed: abdomen_ct_stack((3, 64, 64), seed=seed),
        lambda seed: brain_mri_stack((3, 64, 64), seed=seed),
        lambda seed: cells_stack((4, 64, 64), seed=seed),
    ],
    ids=["ct", "mri", "microscopy", "abdomen", "brain", "cells"],
)
def test_determinism_by_seed(make) -> None:
    a, b, c = make(0), make(0), make(1)
    np.testing.assert_array_equal(a.noisy, b.noisy)
    np.testing.assert_array_equal(a.clean, b.clean)
    np.testing.assert_array_equal(a.inserts, b.inserts)
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


# --- where the small structures are -------------------------------------------------------------

# SHA-256 (first 16 hex) of the six tuned benchmark cases' noisy / clean data at (6, 48, 48): the
# fitted defaults were chosen on exactly these data, so the insert labels must leave them as they are.
TUNED_HASHES = {
    "ct_ramp": ("53cea70a50c22224", "42f54fd6abfb1f80"),
    "ct_hann": ("50fa7e810dd12d97", "4f07a3d0fb3c90e7"),
    "mri5": ("a6207dbb07e24f91", "f81832a487161154"),
    "mri7": ("15baaa2b6e6471b1", "f81832a487161154"),
    "mri9": ("260f0f14685e00ff", "f81832a487161154"),
    "microscopy": ("00f311fb8d2eb3be", "1c579fbb3ac50cb2"),
}


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(TUNED_HASHES))
def test_tuned_cases_are_unchanged_bit_for_bit(name: str) -> None:
    stack = samples.TUNED[name](shape=(6, 48, 48))
    assert (digest(stack.noisy), digest(stack.clean)) == TUNED_HASHES[name]


def check_labels(stack: SampleStack) -> None:
    """Insert / tissue labels: right shape and type, one name per label, every insert present."""
    assert stack.inserts is not None and stack.tissues is not None
    assert stack.inserts.shape == stack.tissues.shape == stack.noisy.shape
    assert stack.inserts.dtype == np.uint16 and stack.tissues.dtype == np.uint8
    labels = np.unique(stack.inserts[stack.inserts > 0])
    assert labels.size > 0 and labels.max() == len(stack.insert_names)
    assert int(stack.tissues.max()) < len(stack.tissue_names)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ct_stack((12, 96, 96)),
        lambda: mri_stack((12, 96, 96)),
        lambda: microscopy_stack((8, 96, 96)),
    ],
    ids=["ct", "mri", "microscopy"],
)
def test_tuned_phantoms_expose_their_inserts(make) -> None:
    stack = make()
    check_labels(stack)
    contrasts = insert_contrast(stack.clean, stack.clean, stack.inserts, stack.tissues)
    assert len(contrasts) >= 3
    assert all(c.recovered == pytest.approx(1.0) for c in contrasts)
    assert sum(abs(c.clean) > 0 for c in contrasts) >= 3


def test_head_inserts_are_its_lesions_vessels_and_calcifications() -> None:
    stack = mri_stack((24, 128, 128))
    kinds = set(stack.insert_names)
    assert {"oblique vessel", "calcification"} <= kinds and kinds & {"small lesion", "tiny lesion"}
    lesion = stack.insert_names.index(next(n for n in stack.insert_names if "lesion" in n)) + 1
    slices = np.flatnonzero((stack.inserts == lesion).any(axis=(1, 2)))
    assert 0 < slices.size < stack.noisy.shape[0]  # appears and disappears along z
    same = ct_stack((24, 128, 128))  # CT and MRI share the geometry
    np.testing.assert_array_equal(same.inserts, stack.inserts)


# --- anatomy-like samples -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def abdomen() -> SampleStack:
    return abdomen_ct_stack((40, 128, 128), seed=0)


def tissue_median(stack: SampleStack, name: str, data: np.ndarray | None = None) -> float:
    values = (stack.clean if data is None else data)[
        stack.tissues == stack.tissue_names.index(name)
    ]
    values = values[(stack.inserts[stack.tissues == stack.tissue_names.index(name)] == 0)]
    return float(np.median(values))


def test_abdomen_ct_is_in_hu_with_the_expected_tissues(abdomen: SampleStack) -> None:
    assert abdomen.units == "HU" and abdomen.noisy.dtype == np.float32
    check_labels(abdomen)
    assert abs(tissue_median(abdomen, "air") + 1000) < 40
    assert -130 < tissue_median(abdomen, "visceral fat") < -60
    assert 90 < tissue_median(abdomen, "liver") < 125
    assert 120 < tissue_median(abdomen, "vessel") < 190  # contrast-filled (aorta 165, IVC 130)
    assert tissue_median(abdomen, "bone cortex") > 500
    assert tissue_median(abdomen, "lung") < -600  # partial volume at 3 mm pixels
    dz, dy, dx = abdomen.spacing
    assert dz == 2.5 and dy == dx == pytest.approx(380 / 128)


def test_abdomen_ct_noise_is_correlated_in_slice_not_across(abdomen: SampleStack) -> None:
    noise = (abdomen.noisy - abdomen.clean).astype(np.float64)
    body = abdomen.tissues > 0
    assert 15 < float(noise[body].std()) < 80  # low dose
    assert max(lag1_corr(noise, 1, body), lag1_corr(noise, 2, body)) > 0.2
    assert abs(lag1_corr(noise, 0, body)) < 0.1


def test_abdomen_ct_inserts_sit_in_their_host_with_real_contrast(abdomen: SampleStack) -> None:
    contrasts = insert_contrast(abdomen.clean, abdomen.clean, abdomen.inserts, abdomen.tissues)
    assert len(contrasts) >= 10
    by_label = {c.label: c for c in contrasts}
    names = abdomen.insert_names
    cysts = [
        by_label[k + 1].clean for k, n in enumerate(names) if "cyst" in n and k + 1 in by_label
    ]
    vessels = [
        by_label[k + 1].clean for k, n in enumerate(names) if "vessel" in n and k + 1 in by_label
    ]
    assert cysts and all(c < -30 for c in cysts)  # hypodense
    assert vessels and all(c > 20 for c in vessels)  # contrast-filled
    # small: most inserts span a few pixels in-plane and only some of the slices
    sizes = np.bincount(abdomen.inserts.ravel())[1:]
    assert np.median(sizes[sizes > 0]) < 400


def test_abdomen_structures_move_between_slices(abdomen: SampleStack) -> None:
    liver = abdomen.tissues == abdomen.tissue_names.index("liver")
    area = liver.sum(axis=(1, 2))
    assert area.max() > 1.5 * area.min()  # the liver shrinks towards the kidneys
    per_slice = [set(np.unique(s)) - {0} for s in abdomen.inserts]
    assert len(set.union(*per_slice)) > max(len(s) for s in per_slice)  # inserts come and go
    diffs = np.abs(np.diff(abdomen.clean, axis=0)).mean(axis=(1, 2))
    assert np.all(diffs > 1)


def test_abdomen_ct_dose_filter_and_seed() -> None:
    low = abdomen_ct_stack((2, 64, 64), dose=2e4)
    high = abdomen_ct_stack((2, 64, 64), dose=2e6)
    assert (high.noisy - high.clean).std() < 0.3 * (low.noisy - low.clean).std()
    smooth = abdomen_ct_stack((2, 64, 64), dose=2e4, filter_name="hann")
    assert (smooth.noisy - smooth.clean).std() < 0.8 * (low.noisy - low.clean).std()
    np.testing.assert_array_equal(low.clean, abdomen_ct_stack((2, 64, 64), dose=2e4).clean)
    assert not np.array_equal(low.clean, abdomen_ct_stack((2, 64, 64), dose=2e4, seed=1).clean)
    with pytest.raises(ValueError):
        abdomen_ct_stack((2, 64, 48))
    with pytest.raises(ValueError):
        abdomen_ct_stack((2, 64, 64), filter_name="gauss")


@pytest.fixture(scope="module")
def brains() -> dict[str, SampleStack]:
    return {c: brain_mri_stack((12, 256, 256), level=0.04, contrast=c) for c in ("t1", "t2")}


def test_brain_contrasts(brains: dict[str, SampleStack]) -> None:
    t1, t2 = brains["t1"], brains["t2"]
    check_labels(t1)
    np.testing.assert_array_equal(t1.tissues, t2.tissues)  # one anatomy, two contrasts
    wm, gm, csf = (tissue_median(t1, n) for n in ("white matter", "grey matter", "csf"))
    assert wm > gm + 0.1 > csf + 0.2
    wm, gm, csf = (tissue_median(t2, n) for n in ("white matter", "grey matter", "csf"))
    assert csf > gm + 0.2 > wm + 0.25
    lesions = [k + 1 for k, n in enumerate(t1.insert_names) if "white-matter" in n]
    assert lesions
    for stack, sign in ((t1, -1), (t2, 1)):
        by_label = {
            c.label: c
            for c in insert_contrast(stack.clean, stack.clean, stack.inserts, stack.tissues)
        }
        assert all(sign * by_label[k].clean > 0.05 for k in lesions if k in by_label)


def test_brain_cortex_is_folded_and_grey_matter_abundant(brains: dict[str, SampleStack]) -> None:
    t1 = brains["t1"]
    names = t1.tissue_names
    grey = (t1.tissues == names.index("grey matter")).sum()
    white = (t1.tissues == names.index("white matter")).sum()
    assert 0.4 < grey / white < 1.5
    # folding: in a mid slice the white matter's boundary is far longer than the skull's inside
    tissues = t1.tissues[6]
    intracranial = ndimage.binary_fill_holes(tissues >= names.index("csf"))
    white = tissues == names.index("white matter")

    def perimeter(mask: np.ndarray) -> int:
        return int((mask & ~ndimage.binary_erosion(mask)).sum())

    assert perimeter(white) > 2 * perimeter(intracranial)


def test_brain_rician_noise_level(brains: dict[str, SampleStack]) -> None:
    t2 = brains["t2"]
    sigma = 0.04 * float(t2.clean.max())
    air = t2.tissues == 0
    assert float(t2.noisy[air].mean()) == pytest.approx(sigma * math.sqrt(math.pi / 2), rel=0.1)
    csf = (t2.tissues == t2.tissue_names.index("csf")) & (t2.clean > 0.8)
    assert float((t2.noisy - t2.clean)[csf].std()) == pytest.approx(sigma, rel=0.15)
    assert t2.suggested_threshold == pytest.approx(mri_threshold(0.04))
    with pytest.raises(ValueError):
        brain_mri_stack((2, 32, 32), contrast="flair")


@pytest.fixture(scope="module")
def cells() -> SampleStack:
    return cells_stack((12, 128, 128), photons=80.0, read_noise=2.0, gain=1.5)


def test_cells_poisson_gaussian_counts(cells: SampleStack) -> None:
    assert cells.noisy.dtype == np.uint16 and cells.clean.dtype == np.float32
    assert cells.units == "counts" and cells.spacing == (0.4, 0.16, 0.16)
    residual = cells.noisy.astype(np.float64) - cells.clean
    assert abs(float(residual.mean())) < 0.5
    electrons = (cells.clean - 100.0) / 1.5
    for low, high in ((2, 6), (20, 60)):
        band = (electrons > low) & (electrons < high)
        expected = 1.5**2 * float(electrons[band].mean()) + 2.0**2 + 1 / 12
        assert residual[band].var() == pytest.approx(expected, rel=0.15)


def test_cells_have_textured_nuclei_membranes_and_puncta(cells: SampleStack) -> None:
    check_labels(cells)
    names = cells.tissue_names
    nucleus = (cells.tissues == names.index("nucleus")) & (cells.inserts == 0)
    cytoplasm = (cells.tissues == names.index("cytoplasm")) & (cells.inserts == 0)
    membrane = cells.tissues == names.index("membrane")
    signal = cells.clean - 100.0
    assert (
        np.median(signal[nucleus])
        > 1.15 * np.median(signal[membrane])
        > 2.5 * np.median(signal[cytoplasm])
    )
    assert signal[nucleus].std() > 0.2 * signal[nucleus].mean()  # chromatin texture
    contrasts = insert_contrast(cells.clean, cells.clean, cells.inserts, cells.tissues)
    assert len(contrasts) >= 5 and all(c.clean > 0 for c in contrasts)
    spans = [np.flatnonzero((cells.inserts == c.label).any(axis=(1, 2))).size for c in contrasts]
    assert max(spans) <= 4  # puncta live in a few slices only


def test_cells_photon_budget_sets_the_snr() -> None:
    dim = cells_stack((4, 64, 64), photons=10.0)
    bright = cells_stack((4, 64, 64), photons=200.0)

    def snr(s: SampleStack) -> float:
        return float((s.clean - 100).std() / (s.noisy - s.clean.astype(np.float64)).std())

    assert snr(bright) > 2.5 * snr(dim)
    with pytest.raises(ValueError):
        cells_stack((2, 32, 32), photons=0)


def test_anatomy_samples_say_what_they_are() -> None:
    for make in (abdomen_ct_stack, brain_mri_stack, cells_stack):
        stack = make((3, 64, 64))
        assert "BSD-3-Clause" in stack.description and stack.name
        assert 0 < stack.suggested_threshold < 0.2


def test_tuned_and_held_out_cases() -> None:
    assert set(samples.TUNED) == {"ct_ramp", "ct_hann", "mri5", "mri7", "mri9", "microscopy"}
    assert not set(samples.TUNED) & set(samples.HELD_OUT)
    tuned_generators = {f.func for f in samples.TUNED.values()}
    for name, make in samples.HELD_OUT.items():
        inspect.signature(make).bind()  # callable with no argument
        assert make.func not in tuned_generators, name  # other anatomy than the tuned phantoms
        stack = make(shape=(3, 64, 64))
        assert stack.inserts is not None and stack.noisy.shape == (3, 64, 64)
    levels = {
        f.keywords.get("level") for f in samples.HELD_OUT.values() if f.func is brain_mri_stack
    }
    assert levels and not levels & {0.05, 0.07, 0.09}
    filters = {
        f.keywords.get("filter_name", "shepp-logan")
        for f in samples.HELD_OUT.values()
        if f.func is abdomen_ct_stack
    }
    assert filters and not filters & {"ramp", "hann"}
    photons = {
        f.keywords.get("photons", 50.0) for f in samples.HELD_OUT.values() if f.func is cells_stack
    }
    assert photons and 60.0 not in photons
