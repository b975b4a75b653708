"""Guided neighbour targets (NGPS-style) for the unmatched pixels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from conftest import correlated_noise_stack
from napari_nsn2n import TrainConfig
from napari_nsn2n.events import Finished, StageProgress
from napari_nsn2n.method.guided import guided_target, pair_targets
from napari_nsn2n.pipeline import run

TINY = TrainConfig(epochs=2, batch_size=2, patch_size=32, base_channels=8, depth=2, device="cpu")


def _texture(shape=(80, 96), seed=0) -> np.ndarray:
    return gaussian_filter(np.random.default_rng(seed).random(shape), 2).astype(np.float32)


def test_the_best_match_finds_a_shifted_structure():
    image = _texture()
    neighbour = np.roll(image, (2, -3), axis=(0, 1))  # the same structure, moved
    inner = (slice(10, -10), slice(10, -10))
    exact = guided_target(image, neighbour, neighbour, topk=1)
    assert np.abs(exact - image)[inner].max() == 0.0
    mean4 = guided_target(image, neighbour, neighbour)
    assert np.abs(mean4 - image)[inner].mean() < 0.2 * np.abs(neighbour - image)[inner].mean()


def test_raw_values_come_from_the_neighbour_chosen_on_the_guide():
    guide = _texture()
    shifted_guide = np.roll(guide, 1, axis=1)
    raw = np.random.default_rng(1).random(guide.shape).astype(np.float32)  # unrelated to the guide
    target = guided_target(guide, shifted_guide, raw, topk=1)
    inner = (slice(10, -10), slice(10, -10))
    np.testing.assert_array_equal(target[inner], np.roll(raw, -1, axis=1)[inner])


def test_pair_targets_keep_the_neighbour_where_matched():
    a, b = _texture(seed=2), _texture(seed=3)
    guide = np.stack([a, b])
    raw = np.stack([a + 0.01, b + 0.01])
    matched = np.zeros(a.shape, bool)
    matched[:40] = True
    forward, backward = pair_targets(guide, raw, 0, matched)
    np.testing.assert_array_equal(forward[:40], raw[1][:40])
    np.testing.assert_array_equal(backward[:40], raw[0][:40])
    assert not np.array_equal(forward[40:], raw[1][40:])  # guided where W = 0
    # tiles with no unmatched pixel are not searched
    untouched = guided_target(a, b, raw[1], needed=np.zeros(a.shape, bool))
    np.testing.assert_array_equal(untouched, raw[1])


def test_a_guided_run_trains_on_the_targets():
    _, noisy = correlated_noise_stack(shape=(6, 48, 48))
    config = TrainConfig(**{**TINY.to_dict(), "target": "guided"})
    events = list(run(noisy, threshold=0.02, config=config))
    stages = {e.stage for e in events if isinstance(e, StageProgress)}
    assert {"lowpass", "targets", "inference"} <= stages
    guided = events[-1]
    assert isinstance(guided, Finished)
    plain = list(run(noisy, threshold=0.02, config=TINY))[-1]
    assert not np.allclose(guided.denoised, plain.denoised)  # the unmatched pixels were trained


def test_unknown_target_is_refused():
    from napari_nsn2n.errors import NSN2NError

    with pytest.raises(NSN2NError, match="target"):
        TrainConfig(target="nearest")
