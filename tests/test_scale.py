"""Stacks larger than memory: slice-by-slice reading, spilled intermediates, streamed output."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import correlated_noise_stack
from napari_nsn2n import TrainConfig, apply_model, resources, run
from napari_nsn2n.events import Finished
from napari_nsn2n.stack import NormalizedSlices, PreparedStack

TINY = TrainConfig(epochs=2, base_channels=8, depth=2, patch_size=None, batch_size=4)


@pytest.fixture
def memmapped(tmp_path):
    _, noisy = correlated_noise_stack(shape=(6, 40, 48))
    counts = np.round(noisy * 4000).astype(np.uint16)
    path = tmp_path / "big.npy"
    np.save(path, counts)
    return counts, np.load(path, mmap_mode="r")


def _finished(events):
    return next(e for e in events if isinstance(e, Finished))


def test_lazy_slices_read_one_slice_at_a_time(memmapped):
    counts, mm = memmapped
    lazy = PreparedStack.from_array(mm, in_memory=False)
    eager = PreparedStack.from_array(counts)
    assert isinstance(lazy.slices, NormalizedSlices) and lazy.slices.shape == (6, 40, 48)
    np.testing.assert_array_equal(lazy.slices[2], eager.slices[2])
    np.testing.assert_array_equal(np.asarray(lazy.slices), eager.slices)
    # a small memmap is loaded by default; only big ones stay on disk
    assert not PreparedStack.from_array(mm).lazy


def test_chunked_run_streams_to_disk_and_equals_in_memory_run(tmp_path, memmapped, monkeypatch):
    counts, mm = memmapped
    expected = _finished(run(counts, threshold=0.03, config=TINY)).denoised
    monkeypatch.setattr(resources, "SPILL_BYTES", 1024)  # force temporary memmaps for intermediates
    out = np.lib.format.open_memmap(
        tmp_path / "out.npy", mode="w+", dtype=np.float32, shape=counts.shape
    )
    result = _finished(run(mm, threshold=0.03, config=TINY, in_memory=False, out=out)).denoised
    assert result is out
    out.flush()
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-5, atol=1e-3)


def test_apply_model_streams_into_a_memmap(tmp_path, memmapped):
    counts, mm = memmapped
    finished = _finished(run(counts, threshold=0.03, config=TINY))
    out = np.lib.format.open_memmap(
        tmp_path / "applied.npy", mode="w+", dtype=np.float32, shape=counts.shape
    )
    done = []
    apply_model(
        finished.model,
        mm,
        out=out,
        batch_size=4,
        progress=lambda e: done.append((e.stage, e.done)) if hasattr(e, "done") else None,
    )
    inference = [d for stage, d in done if stage == "inference"]
    assert inference == [4, 6] and [d for stage, d in done if stage == "structure"] == [
        *range(1, 7)
    ]
    np.testing.assert_allclose(out, finished.denoised, rtol=1e-5, atol=1e-3)


def test_spilled_allocation_is_a_temporary_memmap(monkeypatch):
    monkeypatch.setattr(resources, "SPILL_BYTES", 10)
    spilled = resources.allocate((4, 4), np.float32, spill=True)
    assert isinstance(spilled, np.memmap)
    assert not isinstance(resources.allocate((4, 4), np.float32, spill=False), np.memmap)
