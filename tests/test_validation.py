"""The held-out loss: pixels left out of training, their loss tracking the error on the clean stack."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import correlated_noise_stack
from napari_nsn2n import TrainConfig
from napari_nsn2n.events import Finished, Recovered, TrainStep, Validation
from napari_nsn2n.pipeline import run
from napari_nsn2n.training.trainer import Trainer
from napari_nsn2n.training.validation import HOLDOUT_BLOCK, holdout_map

TINY = TrainConfig(
    epochs=1, batch_size=4, patch_size=32, base_channels=8, depth=2, seed=0, device="cpu"
)


def test_holdout_map_is_blocks_of_the_asked_fraction():
    held = holdout_map(256, 200, 0.1, seed=0)
    assert held.shape == (256, 200) and held.dtype == bool
    assert 0.07 < held.mean() < 0.13
    blocks = held[: 256 // HOLDOUT_BLOCK * HOLDOUT_BLOCK].reshape(-1, HOLDOUT_BLOCK, 200)
    assert np.all(blocks.min(axis=1) == blocks.max(axis=1))  # whole blocks along y
    assert holdout_map(16, 16, 0.001, seed=0).any()  # never empty
    assert not holdout_map(16, 16, 0.0, seed=0).any()


def test_held_out_pixels_get_no_training_weight():
    _, noisy = correlated_noise_stack(shape=(6, 64, 64))
    config = TrainConfig(**{**TINY.to_dict(), "validation_fraction": 0.2, "patch_size": None})
    trainer = Trainer(noisy, None, np.arange(5), config)
    held = holdout_map(64, 64, 0.2, seed=0)
    for batch in trainer.sampler.epoch():
        weight = batch["weight"]
        assert np.all(weight[:, 0][:, held] == 0) and np.all(weight[:, 0][:, ~held] == 1)
    trainer.close()


def test_validation_events_track_the_error_against_the_clean_stack():
    """White noise, independent across slices: the held-out loss minus the clean error on the same
    pixels is the noise variance (on the normalised scale), and it falls as training goes on."""
    clean, noisy = correlated_noise_stack(shape=(10, 64, 64), sigma=0.08, blur=0)
    config = TrainConfig(
        **{
            **TINY.to_dict(),
            "epochs": 40,
            "validation_fraction": 0.1,
            "validation_every": 20,
            "use_mask": False,
        }
    )
    events = list(run(noisy, config=config, threshold=0.05))
    checks = [e for e in events if isinstance(e, Validation)]
    steps = [e for e in events if isinstance(e, TrainStep)]
    assert [e.step for e in checks] == list(range(20, steps[-1].step + 1, 20))
    assert checks[-1].loss < checks[0].loss
    assert checks[-1].best_loss == min(e.loss for e in checks)
    finished = events[-1]
    assert isinstance(finished, Finished)
    low, high = float(noisy.min()), float(noisy.max())
    scale = high - low
    held = holdout_map(64, 64, 0.1, seed=0)
    pred = (np.asarray(finished.denoised) - low) / scale
    clean_n = (clean - low) / scale
    error = float(np.mean(((pred - clean_n)[:, held]) ** 2))
    sigma2 = (0.08 / scale) ** 2
    assert checks[-1].loss - error == pytest.approx(sigma2, rel=0.25)


def test_stop_rule_ends_training_early_and_keeps_the_best_weights():
    _, noisy = correlated_noise_stack(shape=(8, 64, 64))
    config = TrainConfig(
        **{
            **TINY.to_dict(),
            "epochs": 400,
            "learning_rate": 0.05,  # too high: the held-out loss soon stops improving
            "validation_fraction": 0.1,
            "validation_every": 5,
            "stop_patience": 3,
        }
    )
    torch.manual_seed(0)
    events = list(run(noisy, config=config, threshold=0.05))
    checks = [e for e in events if isinstance(e, Validation)]
    last_step = max(e.step for e in events if isinstance(e, TrainStep))
    finished = events[-1]
    assert last_step < 400 * 4  # stopped long before the planned steps
    assert checks[-1].step - checks[-1].best_step == 3 * 5
    assert finished.model.meta["stopped_by_rule_at"] == last_step


def test_stop_patience_needs_a_held_out_set():
    from napari_nsn2n.errors import NSN2NError

    with pytest.raises(NSN2NError, match="validation_fraction"):
        TrainConfig(stop_patience=3)


def test_self_weight_covers_the_unmatched_pixels_but_not_the_held_out_ones():
    _, noisy = correlated_noise_stack(shape=(6, 64, 64))
    masks = np.ones((5, 64, 64), np.float32)
    masks[:, 20:40, 10:30] = 0  # an unmatched region
    config = TrainConfig(
        **{
            **TINY.to_dict(),
            "validation_fraction": 0.2,
            "patch_size": None,
            "augment": False,
            "lambda_self": 1.0,
        }
    )
    trainer = Trainer(noisy, masks, np.arange(5), config)
    held = holdout_map(64, 64, 0.2, seed=0)
    unmatched = masks[0] == 0
    for batch in trainer.sampler.epoch():
        own = batch["unmatched"][:, 0]
        assert np.all(own[:, unmatched & ~held] == 1)
        assert np.all(own[:, held | ~unmatched] == 0)
        assert np.all(batch["weight"][:, 0][:, unmatched] == 0)
    trainer.close()


def test_plateau_schedule_halves_the_rate_on_each_plateau_then_stops():
    """lr_schedule="plateau": the held-out loss decides when the learning rate halves
    (``plateau_halvings`` times) and, at the plateau after that, when training ends."""
    _, noisy = correlated_noise_stack(shape=(8, 64, 64))
    config = TrainConfig(
        **{
            **TINY.to_dict(),
            "epochs": 400,
            "learning_rate": 0.004,
            "lr_schedule": "plateau",
            "validation_fraction": 0.1,
            "validation_every": 3,
            "stop_patience": 2,
            "plateau_halvings": 1,
            "plateau_tolerance": 0.0,
        }
    )
    events = list(run(noisy, config=config, threshold=0.05))
    steps = [e for e in events if isinstance(e, TrainStep)]
    assert not any(isinstance(e, Recovered) for e in events)  # no rollback halved the rate
    assert list(dict.fromkeys(e.lr for e in steps)) == [0.004, 0.002]  # one halving, in order
    assert steps[-1].step < 400 * 4
    assert events[-1].model.meta["stopped_by_rule_at"] == steps[-1].step
