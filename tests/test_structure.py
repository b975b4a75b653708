"""The structure step after inference: what the network removed but neighbouring slices agree on
is put back; noise it removed stays removed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from napari_nsn2n import TrainConfig, apply_model, denoise
from napari_nsn2n.method.structure import keep_structure, kept_structure

TINY = TrainConfig(epochs=2, base_channels=8, depth=2, patch_size=None, batch_size=4)


def _lesion_stack(seed: int = 0):
    """A smooth background with a bright 5 px disc in slices 6-9 and white noise (sigma 0.05);
    the 'denoised' stack is the background alone, as a denoiser that smoothed the disc away."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[0:16, 0:64, 0:64]
    background = (0.3 + 0.2 * np.sin(x / 9.0) * np.cos(y / 11.0)).astype(np.float32)
    disc = ((y - 30) ** 2 + (x - 34) ** 2 <= 5**2) & (z >= 6) & (z <= 9)
    clean = background + 0.25 * disc
    noisy = (clean + rng.normal(0, 0.05, clean.shape)).astype(np.float32)
    return clean.astype(np.float32), noisy, background, disc


def test_a_lesion_the_slices_agree_on_comes_back_and_the_noise_does_not():
    clean, noisy, removed_lesion, disc = _lesion_stack()
    out = keep_structure(noisy, removed_lesion)
    recovered = float((out - removed_lesion)[disc].mean()) / 0.25  # of the disc's contrast
    assert recovered >= 0.7, recovered
    changed = np.abs(out - removed_lesion) > 1e-6
    far = ~ndimage.binary_dilation(disc, np.ones((3, 15, 15), bool))
    assert changed[far].mean() < 0.002  # the noise stays removed away from the lesion
    err_before = np.abs(removed_lesion - clean)[disc].mean()
    assert np.abs(out - clean)[disc].mean() < 0.5 * err_before


def test_noise_alone_is_left_out_and_one_slice_gets_nothing_back():
    rng = np.random.default_rng(1)
    noisy = rng.normal(0.5, 0.05, (12, 48, 48)).astype(np.float32)
    flat = np.full_like(noisy, 0.5)
    out = keep_structure(noisy, flat)
    assert np.mean(np.abs(out - flat) > 1e-6) < 0.002
    single = list(kept_structure(noisy[:1].__getitem__, flat[:1].__getitem__, 1))
    assert len(single) == 1 and not single[0].any()


def test_runs_keep_structure_by_default_and_can_give_the_network_output():
    _, noisy, _, _ = _lesion_stack()
    config = TrainConfig(**{**TINY.to_dict(), "epochs": 10})
    kept, bundle = denoise(noisy, config=config, return_model=True)
    plain = denoise(noisy, config=config, keep_structure=False)
    assert not np.array_equal(kept, plain)
    np.testing.assert_allclose(kept, keep_structure(noisy, plain), atol=1e-4)
    applied = apply_model(bundle, noisy, device="cpu", keep_structure=False)
    np.testing.assert_allclose(applied, plain, atol=1e-5)
    np.testing.assert_allclose(apply_model(bundle, noisy, device="cpu"), kept, atol=1e-4)


def test_the_structure_step_reports_its_progress_after_inference():
    from napari_nsn2n import run
    from napari_nsn2n.events import Finished, StageProgress

    _, noisy, _, _ = _lesion_stack()
    for keep in (True, False):
        events = list(run(noisy, threshold=0.05, config=TINY, keep_structure=keep))
        stages = [e for e in events if isinstance(e, StageProgress)]
        structure = [e.done for e in stages if e.stage == "structure"]
        assert structure == (list(range(1, 17)) if keep else [])
        assert stages[-1].stage == ("structure" if keep else "inference")
        assert isinstance(events[-1], Finished)


def _benchmark_module(name: str):
    """A script of benchmarks/ (not part of the package), imported from its file."""
    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    if not (folder / f"{name}.py").exists():  # an sdist carries tests/ without benchmarks/
        pytest.skip(f"benchmarks/{name}.py is not here")
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module


def test_the_gate_benchmark_reproduces_the_library_step_and_its_pair_gate_keeps_more():
    """benchmarks/structure_variants.py scores other gates on the claim that its default
    variant is the library's step: the same output away from the stack's two end slices (there
    it repeats the edge slice, the library averages two, which also moves the noise level a
    little: within 2 % of the disc's contrast)."""
    variants = _benchmark_module("structure_variants")
    _, noisy, removed_lesion, disc = _lesion_stack()
    library = keep_structure(noisy, removed_lesion)
    default = variants.put_back(noisy, removed_lesion)
    np.testing.assert_allclose(default[1:-1], library[1:-1], atol=0.005)
    assert np.abs(default - removed_lesion)[1:-1][disc[1:-1]].mean() > 0.15  # the disc is back
    thin = disc & (np.arange(16)[:, None, None] <= 7)  # a disc two slices thick (6, 7)
    noisy_thin = noisy - 0.25 * (disc & ~thin)
    mean3 = variants.put_back(noisy_thin, removed_lesion)
    pair = variants.put_back(noisy_thin, removed_lesion, detect="pair")
    assert (pair - removed_lesion)[thin].mean() > 1.2 * (mean3 - removed_lesion)[thin].mean()
