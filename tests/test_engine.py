"""The engine end to end: training events, quality, reproducibility, units, axes, models."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import correlated_noise_stack, psnr
from napari_nsn2n import TrainConfig, apply_model, denoise, load_model, run, save_model
from napari_nsn2n.control import RunControl
from napari_nsn2n.errors import ModelFormatError
from napari_nsn2n.events import (
    EpochEnd,
    Finished,
    Preview,
    StageProgress,
    TrainingStarted,
    TrainStep,
)
from napari_nsn2n.stack import PreparedStack

TINY = TrainConfig(epochs=2, base_channels=8, depth=2, patch_size=None, batch_size=4)


def _events(data, config=TINY, **kwargs):
    return list(run(data, threshold=0.05, config=config, **kwargs))


@pytest.mark.slow
def test_denoising_raises_psnr_on_in_plane_correlated_noise():
    clean, noisy = correlated_noise_stack()
    config = TrainConfig(epochs=30, base_channels=16, patch_size=64)
    out = denoise(noisy, threshold="auto", config=config)
    gain = psnr(clean, out) - psnr(clean, noisy)
    assert gain > 2.5, f"PSNR gain {gain:.2f} dB"


def test_event_stream_order_and_contents(noisy_stack):
    _, noisy = noisy_stack
    events = _events(noisy, preview_index=3, preview_every=2)
    kinds = [type(e) for e in events]
    assert kinds[0] is StageProgress and events[0].stage == "lowpass"
    started = next(e for e in events if isinstance(e, TrainingStarted))
    steps = [e for e in events if isinstance(e, TrainStep)]
    assert started.total_steps == len(steps) == 2 * started.steps_per_epoch
    assert started.n_pairs == noisy.shape[0] - 1
    assert [s.step for s in steps] == list(range(1, len(steps) + 1))
    assert all(np.isfinite([s.loss, s.recon, s.rc, s.ic]).all() for s in steps)
    assert all(s.loss == pytest.approx(s.recon + 0.5 * s.rc + 1.0 * s.ic, rel=1e-4) for s in steps)
    assert len([e for e in events if isinstance(e, EpochEnd)]) == 2
    previews = [e for e in events if isinstance(e, Preview)]
    assert previews and previews[0].index == 3 and previews[0].image.shape == noisy.shape[1:]
    assert isinstance(events[-1], Finished)
    assert events[-1].denoised.shape == noisy.shape and events[-1].denoised.dtype == np.float32


def test_learning_rate_halves_every_twenty_epochs(noisy_stack):
    _, noisy = noisy_stack
    config = TrainConfig(epochs=41, lr_halving_epochs=20, base_channels=4, depth=1, batch_size=16)
    steps = [e for e in _events(noisy[:3, :16, :16], config) if isinstance(e, TrainStep)]
    by_epoch = {s.epoch: s.lr for s in steps}
    assert by_epoch[1] == by_epoch[20] == pytest.approx(1e-3)
    assert by_epoch[21] == by_epoch[40] == pytest.approx(5e-4)
    assert by_epoch[41] == pytest.approx(2.5e-4)
    # by default the rate halves every fifth of the schedule: every 20 of the paper's 100 epochs
    assert TrainConfig().halving_epochs == 20 and TrainConfig(epochs=10).halving_epochs == 2


def test_late_schedule_holds_the_rate_for_half_the_run_then_halves_every_tenth(noisy_stack):
    from napari_nsn2n.errors import NSN2NError

    _, noisy = noisy_stack
    config = TrainConfig(epochs=20, lr_schedule="late", base_channels=4, depth=1, batch_size=16)
    steps = [e for e in _events(noisy[:3, :16, :16], config) if isinstance(e, TrainStep)]
    by_epoch = {s.epoch: s.lr for s in steps}  # TrainStep.epoch counts from 1
    assert [by_epoch[e] for e in range(1, 11)] == pytest.approx([1e-3] * 10)
    assert by_epoch[11] == by_epoch[12] == pytest.approx(5e-4)  # the middle: first halving
    assert by_epoch[13] == pytest.approx(2.5e-4)
    assert by_epoch[19] == by_epoch[20] == pytest.approx(1e-3 / 32)  # the last tenth
    # a short run: the middle and the tenths fall between epochs
    six = [TrainConfig(lr_schedule="late").learning_rate_at(e, 6) * 1e3 for e in range(6)]
    assert six == pytest.approx([1, 1, 1, 0.5, 0.25, 0.0625])
    with pytest.raises(NSN2NError, match="lr_schedule"):
        TrainConfig(lr_schedule="cosine")


def test_an_epoch_carries_the_pixels_of_every_pair_once(noisy_stack):
    _, noisy = noisy_stack  # 12 slices of 64 x 64: 11 pairs
    whole = next(e for e in _events(noisy, TINY) if isinstance(e, TrainingStarted))
    assert whole.steps_per_epoch == 3  # 11 whole-slice pairs in batches of 4
    patches = TrainConfig(**{**TINY.to_dict(), "patch_size": 32})
    patched = next(e for e in _events(noisy, patches) if isinstance(e, TrainingStarted))
    assert patched.steps_per_epoch == 11  # 4 patches of 32 x 32 per pair: 44 patches / 4


def test_seeded_runs_are_reproducible_on_cpu(noisy_stack):
    _, noisy = noisy_stack
    first = denoise(noisy, threshold=0.05, config=TINY)
    again = denoise(noisy, threshold=0.05, config=TINY)
    other = denoise(noisy, threshold=0.05, config=TrainConfig(**{**TINY.to_dict(), "seed": 1}))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_output_in_input_units_and_optional_cast():
    _, noisy = correlated_noise_stack(shape=(4, 32, 32))
    hu = np.round(noisy * 2000 - 1000).astype(np.int16)  # CT in HU
    lo, hi = float(hu.min()), float(hu.max())
    out = denoise(hu, threshold=0.05, config=TINY)
    # the same run on the [0, 1] slices the engine trains on (bit-identical input: training
    # amplifies float32 rounding differences of a separately scaled copy)
    normalised = np.asarray(PreparedStack.from_array(hu).slices)
    assert (normalised.min(), normalised.max()) == (0.0, 1.0)
    unit_scale = denoise(normalised, threshold=0.05, config=TINY)
    assert out.dtype == np.float32
    np.testing.assert_allclose(
        out, unit_scale * (hi - lo) + lo, atol=1e-4 * (hi - lo)
    )  # HU stay HU
    cast = denoise(hu, threshold=0.05, config=TINY, cast_output=True)
    assert cast.dtype == np.int16
    assert np.abs(cast.astype(np.float32) - out).max() <= 0.5 + 1e-3  # rounded, not truncated


def test_slice_axis_choice_and_4d(noisy_stack):
    _, noisy = noisy_stack
    with pytest.raises(Exception, match="not a slice axis"):
        denoise(noisy[None, :4], config=TINY, axis=2)
    y_z_x = np.ascontiguousarray(noisy[:4, :32, :32].transpose(1, 0, 2))
    out = denoise(y_z_x, threshold=0.05, config=TINY, axis=1)
    assert out.shape == (32, 4, 32)
    along_z = denoise(noisy[:4, :32, :32], threshold=0.05, config=TINY)
    np.testing.assert_allclose(out, along_z.transpose(1, 0, 2), atol=1e-5)
    four_d = np.stack([noisy[:4, :32, :32], noisy[4:8, :32, :32]])  # (T, Z, Y, X)
    events = list(run(four_d, threshold=0.05, config=TINY, axis="z", axes="TZYX"))
    started = next(e for e in events if isinstance(e, TrainingStarted))
    assert started.n_pairs == 2 * 3  # pairs never cross the volume boundary
    assert events[-1].denoised.shape == four_d.shape


def test_stop_ends_training_early_with_a_result(noisy_stack):
    _, noisy = noisy_stack
    control = RunControl()
    steps = 0
    for event in run(
        noisy, control, threshold=0.05, config=TrainConfig(**{**TINY.to_dict(), "epochs": 50})
    ):
        if isinstance(event, TrainStep):
            steps += 1
            if steps == 3:
                control.stop()
        final = event
    assert steps == 3
    assert isinstance(final, Finished) and final.stopped_early
    assert final.denoised.shape == noisy.shape
    assert final.model.meta["steps"] == 3  # the model says how far it was trained


def test_closing_the_generator_mid_training_stops_cleanly(noisy_stack):
    _, noisy = noisy_stack
    gen = run(noisy, threshold=0.05, config=TrainConfig(**{**TINY.to_dict(), "epochs": 50}))
    for event in gen:
        if isinstance(event, TrainStep):
            break
    gen.close()  # what napari's worker.quit() and a closing viewer do
    with pytest.raises(StopIteration):
        next(gen)


def test_saved_model_round_trip_and_apply_to_another_stack(tmp_path, noisy_stack):
    _, noisy = noisy_stack
    denoised, bundle = denoise(noisy, threshold=0.05, config=TINY, return_model=True)
    path = save_model(bundle, tmp_path / "model.pt")
    loaded = load_model(path)
    assert loaded.config == TINY and loaded.normalizer == bundle.normalizer
    assert loaded.threshold == pytest.approx(0.05)
    again = apply_model(loaded, noisy, device="cpu")
    np.testing.assert_allclose(again, denoised, atol=1e-5)
    _, other = correlated_noise_stack(shape=(5, 48, 40), seed=3)
    assert apply_model(loaded, other).shape == other.shape


def test_model_files_from_elsewhere_are_refused(tmp_path):
    import torch

    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, foreign)
    newer = tmp_path / "newer.pt"
    torch.save({"format": "napari-nsn2n-model", "version": 99}, newer)
    text = tmp_path / "text.pt"
    text.write_text("not a model")
    for path, message in [
        (foreign, "not a napari-nsn2n model"),
        (newer, "version 99"),
        (text, "not a napari-nsn2n model"),
        (tmp_path / "missing.pt", "not found"),
    ]:
        with pytest.raises(ModelFormatError, match=message):
            load_model(path)


def test_min_steps_raises_the_epochs_of_a_short_stack_only(noisy_stack):
    _, noisy = noisy_stack  # 12 slices of 64 x 64: 11 pairs, 1 patch each, batch 4: 3 steps/epoch
    config = TrainConfig(
        epochs=2, min_steps=20, base_channels=4, depth=1, patch_size=None, batch_size=4
    )
    events = _events(noisy, config)
    started = next(e for e in events if isinstance(e, TrainingStarted))
    steps = [e for e in events if isinstance(e, TrainStep)]
    assert started.steps_per_epoch == 3 and started.epochs == 7  # ceil(20 / 3)
    assert len(steps) == started.total_steps == 21 >= config.min_steps
    assert [e.epochs for e in events if isinstance(e, EpochEnd)] == [7] * 7
    # the saved model records the schedule as run, not only the config asked for
    model = events[-1].model
    assert (model.meta["epochs"], model.meta["steps"], model.config.epochs) == (7, 21, 2)
    # the lr still halves every fifth of the run: every round(7 / 5) = 1 epoch here
    assert steps[-1].lr == pytest.approx(1e-3 * 0.5**6)
    # the plan made before training (the threshold suggestion uses it) is what ran
    assert config.planned_steps(11, 64, 64) == started.total_steps
    assert config.steps_per_epoch(11, 64, 64) == started.steps_per_epoch
    # a stack long enough for min_steps keeps its epochs
    assert config.epochs_for(steps_per_epoch=10) == 2 and config.epochs_for(3) == 7
    assert TrainConfig(epochs=2).epochs_for(1) == 2  # off by default (the paper's schedule)


def test_presets():
    from napari_nsn2n.errors import NSN2NError

    assert (
        TrainConfig.preset("paper") == TrainConfig()
    )  # the paper's schedule is the dataclass default
    assert TrainConfig().epochs == 100 and TrainConfig().halving_epochs == 20
    fast = TrainConfig.preset("fast", seed=4)
    assert (fast.epochs, fast.base_channels, fast.patch_size, fast.seed) == (16, 16, 64, 4)
    # the fast preset anneals late (measured better at equal steps); the paper preset is the paper's
    assert fast.lr_schedule == "late" and TrainConfig.preset("paper").lr_schedule == "step"
    assert TrainConfig.preset("auto", device="cuda").lr_schedule == "step"
    assert TrainConfig.preset("auto", device="cpu") == TrainConfig.preset("fast", device="cpu")
    assert TrainConfig.preset("auto", device="cuda").base_channels == 32
    # the quick preset stops itself (held-out loss, plateau schedule) within a 4000-step plan
    quick = TrainConfig.preset("quick")
    assert (quick.lr_schedule, quick.stop_patience, quick.min_steps) == ("plateau", 3, 4000)
    # short stacks: the fast preset and auto (also on a GPU) train at least 1500 steps; the
    # paper preset stays the paper's schedule
    assert fast.min_steps == 1500 and TrainConfig.preset("paper").min_steps is None
    assert TrainConfig.preset("auto", device="cuda").min_steps == 1500
    assert TrainConfig.preset("auto", device="cuda", min_steps=None).min_steps is None
    with pytest.raises(NSN2NError, match="unknown preset"):
        TrainConfig.preset("turbo")
    # L_RC: the paper's 0.5 in the paper preset; the others choose it from the data
    assert TrainConfig.preset("paper").lambda_rc == 0.5
    assert fast.lambda_rc == TrainConfig.preset("auto", device="cuda").lambda_rc == "auto"


def test_lambda_rc_auto_is_resolved_from_the_noise_correlation():
    """ "auto" -> 0.5 (the paper's) for noise correlated within slices or unknown, 0 otherwise; a
    number is kept; anything else is refused."""
    from napari_nsn2n.errors import NSN2NError

    auto = TrainConfig(lambda_rc="auto")
    assert auto.resolved(True).lambda_rc == 0.5 and auto.resolved(None).lambda_rc == 0.5
    assert auto.resolved(False).lambda_rc == 0.0
    assert TrainConfig(lambda_rc=0.2).resolved(False).lambda_rc == 0.2
    assert TrainConfig.from_dict(auto.to_dict()) == auto
    for bad in (-0.1, "sometimes"):
        with pytest.raises(NSN2NError, match="lambda_rc"):
            TrainConfig(lambda_rc=bad)


def test_auto_lambda_rc_reaches_training_and_the_model():
    """A real run: white noise trains without L_RC, in-plane correlated noise with the paper's
    weight; the model records the weight it trained with and that the rule chose it."""
    from conftest import correlated_noise_stack

    config = TrainConfig(**{**TINY.to_dict(), "lambda_rc": "auto"})
    for blur, weight in ((0, 0.0), (1.5, 0.5)):
        _, noisy = correlated_noise_stack(shape=(6, 48, 48), sigma=0.02, blur=blur)
        events = list(run(noisy, threshold="auto", config=config))
        steps = [e for e in events if isinstance(e, TrainStep)]
        model = events[-1].model
        assert model.config.lambda_rc == weight and model.meta["lambda_rc_auto"] is True
        # the optimised loss used that weight (L_RC is still measured and reported)
        assert all(s.rc > 0 for s in steps)
        for s in steps:
            assert s.loss == pytest.approx(s.recon + weight * s.rc + s.ic, rel=1e-4)
    _, noisy = correlated_noise_stack(shape=(6, 48, 48), sigma=0.02, blur=0)
    fixed = list(
        run(noisy, threshold="auto", config=TrainConfig(**{**TINY.to_dict(), "lambda_rc": 0.25}))
    )[-1]
    assert fixed.model.config.lambda_rc == 0.25 and fixed.model.meta["lambda_rc_auto"] is False


def test_divergence_guard_rolls_an_exploding_run_back(noisy_stack):
    from itertools import chain

    import torch

    from napari_nsn2n.training.trainer import Trainer

    _, noisy = noisy_stack
    prepared = PreparedStack.from_array(noisy)
    config = TrainConfig(epochs=100, base_channels=8, depth=2, patch_size=32, batch_size=4)
    trainer = Trainer(prepared.slices, None, prepared.layout.pair_starts(), config)
    batches = chain.from_iterable(trainer.sampler.epoch() for _ in range(100))
    initial = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    healthy = [trainer.step(next(batches), 1e-3)[0] for _ in range(60)]
    assert trainer.last_recovery is None and not trainer.guard.recoveries
    assert [s[0] for s in trainer.guard.snapshots] == [0, 50]
    trainer.step(next(batches), 1e4)  # one absurd update: the next loss explodes
    exploded = trainer.step(next(batches), 1e-3)[0]
    recovery = trainer.last_recovery
    assert recovery is not None and recovery.step == 62 and recovery.restored_step == 0
    assert not np.isfinite(exploded) or exploded > 20 * np.median(healthy[-50:])
    assert trainer.guard.lr_scale == 0.5 and "restored" in recovery.message()
    restored = trainer.model.state_dict()
    assert all(torch.equal(restored[k], initial[k]) for k in initial)  # the step-0 weights
    after = [trainer.step(next(batches), 1e-3)[0] for _ in range(20)]
    assert np.isfinite(after).all() and max(after) < 5 * np.median(healthy[-50:])
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(5e-4)  # halved from here on
    trainer.close()
    assert not trainer.guard.snapshots  # the copies of the weights are released


def test_healthy_run_reports_no_recovery_and_its_loss_peak(noisy_stack):
    _, noisy = noisy_stack
    events = _events(noisy, TrainConfig(**{**TINY.to_dict(), "epochs": 12}))
    from napari_nsn2n.events import Recovered

    assert not [e for e in events if isinstance(e, Recovered)]
    meta = events[-1].model.meta
    assert meta["recoveries"] == 0 and 1.0 <= meta["loss_peak_ratio"] < 20


def test_the_guards_snapshots_do_not_change_a_healthy_run(noisy_stack):
    from napari_nsn2n.training.guard import DivergenceGuard
    from napari_nsn2n.training.trainer import Trainer

    _, noisy = noisy_stack
    prepared = PreparedStack.from_array(noisy[:6, :32, :32])
    config = TrainConfig(epochs=8, base_channels=4, depth=1, patch_size=None, batch_size=2)
    outputs = []
    for every in (50, 1):  # the default, and a snapshot after every single step
        trainer = Trainer(prepared.slices, None, prepared.layout.pair_starts(), config)
        trainer.guard = DivergenceGuard(every=every)
        trainer.guard.start(trainer.model, trainer.optimizer)
        for epoch in range(trainer.epochs):
            for batch in trainer.sampler.epoch():
                trainer.step(batch, trainer.learning_rate(epoch))
        outputs.append(trainer.predict(prepared.slices))
        trainer.close()
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_training_events_report_a_rollback_and_go_on(noisy_stack):
    from napari_nsn2n.events import Recovered
    from napari_nsn2n.training.loop import training_events
    from napari_nsn2n.training.trainer import Trainer

    class Exploding(Trainer):  # a schedule with one absurd epoch: its first update blows up
        def learning_rate(self, epoch: int) -> float:
            return 1e4 if epoch == 10 else 1e-3

    _, noisy = noisy_stack
    prepared = PreparedStack.from_array(noisy[:7, :32, :32])  # 6 pairs: 3 steps per epoch
    config = TrainConfig(epochs=14, base_channels=4, depth=1, patch_size=None, batch_size=2)
    trainer = Exploding(prepared.slices, None, prepared.layout.pair_starts(), config)
    events = list(training_events(trainer))
    trainer.close()
    recoveries = [e for e in events if isinstance(e, Recovered)]
    steps = [e for e in events if isinstance(e, TrainStep)]
    assert recoveries and recoveries[0].step == 10 * trainer.steps_per_epoch + 2
    assert len(steps) == trainer.total_steps  # the run goes on to its end
    assert steps[recoveries[0].step - 1].lr == pytest.approx(1e4)  # the lr that step used
    assert steps[-1].lr == pytest.approx(1e-3 * recoveries[-1].lr_scale)
    assert np.isfinite(steps[-1].loss) and steps[-1].loss < 20 * np.median(
        [s.loss for s in steps[: 10 * trainer.steps_per_epoch]][-50:]
    )
