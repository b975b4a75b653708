"""The training loop as a generator of progress events (steps, epochs, rollbacks, previews)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator

import numpy as np

from ..control import RunControl
from ..events import EpochEnd, Preview, Recovered, TrainingStarted, TrainStep, Validation
from .trainer import Trainer


def training_events(
    trainer: Trainer,
    control: RunControl | None = None,
    preview_index: int | Callable[[], int] | None = None,
    preview_every: int = 0,
    to_units: Callable[[np.ndarray], np.ndarray] = lambda a: a,
) -> Iterator[TrainingStarted | TrainStep | Validation | EpochEnd | Recovered | Preview]:
    """Train for ``trainer.epochs`` epochs, yielding a ``TrainStep`` per step, an ``EpochEnd`` per
    epoch, a ``Recovered`` after a step whose loss exploded (the run goes on from restored
    weights), every ``preview_every`` steps a ``Preview`` of slice ``preview_index`` (an index
    or a callable returning one, e.g. the slice the viewer shows) and, with a held-out set, a
    ``Validation`` every ``config.validation_every`` steps. Ends early when ``control`` stops, or
    when the stop rule says so (the best weights are then restored)."""
    control = control or RunControl()
    yield TrainingStarted(
        total_steps=trainer.total_steps,
        epochs=trainer.epochs,
        steps_per_epoch=trainer.steps_per_epoch,
        n_pairs=len(trainer.sampler.pair_starts),
        device=str(trainer.device),
    )
    start, step = time.perf_counter(), 0
    tracker = StopRule(trainer.config)
    trainer.model.train()
    for epoch in range(trainer.epochs):
        lr, losses = trainer.learning_rate(epoch), []
        for batch in trainer.sampler.epoch():
            control.wait_while_paused()
            if control.stopped:
                return
            step_lr = lr * tracker.lr_scale * trainer.guard.lr_scale  # before a rollback halves it
            total, recon, rc, ic = trainer.step(batch, lr * tracker.lr_scale)
            step += 1
            losses.append(total)
            yield TrainStep(
                step,
                trainer.total_steps,
                epoch + 1,
                total,
                recon,
                rc,
                ic,
                step_lr,
                time.perf_counter() - start,
            )
            if trainer.last_recovery is not None:
                yield trainer.last_recovery
            if preview_every and preview_index is not None and step % preview_every == 0:
                index = preview_index() if callable(preview_index) else preview_index
                image = trainer.predict(trainer.slices[index : index + 1])[0]
                yield Preview(step=step, index=index, image=to_units(image))
            if trainer.held_out is not None and (
                step % trainer.config.validation_every == 0 or step == trainer.total_steps
            ):
                yield tracker.update(step, trainer)
                if tracker.should_stop(step):
                    trainer.model.load_state_dict(tracker.best_state)
                    trainer.stopped_at = step
                    yield EpochEnd(
                        epoch + 1,
                        trainer.epochs,
                        float(np.mean(losses)),
                        time.perf_counter() - start,
                    )
                    return
        yield EpochEnd(
            epoch + 1, trainer.epochs, float(np.mean(losses)), time.perf_counter() - start
        )


class StopRule:
    """What the held-out loss decides, checked every ``config.validation_every`` steps.

    The best held-out loss so far is kept (and its weights, when the rule may stop). A check
    *improves* when the loss falls below the best by more than ``config.plateau_tolerance`` times
    the fall since the first check. With ``config.stop_patience`` = P:
    * lr schedule "plateau": after P checks without improvement the learning rate halves; after
      ``config.plateau_halvings`` halvings, the next such plateau ends the run;
    * other schedules: P checks without improvement end the run.
    A run that stops keeps its best weights.
    """

    def __init__(self, config) -> None:
        self.patience = config.stop_patience
        self.plateau = config.lr_schedule == "plateau"
        self.tolerance, self.halvings_left = config.plateau_tolerance, config.plateau_halvings
        self.first_loss = math.nan
        self.best_loss, self.best_step, self.since_best = math.inf, 0, 0
        self.best_state: dict | None = None
        self.lr_scale = 1.0
        self._stop = False

    def update(self, step: int, trainer: Trainer) -> Validation:
        loss = trainer.held_out_loss()
        if math.isnan(self.first_loss):
            self.first_loss = loss
        margin = self.tolerance * max(self.first_loss - self.best_loss, 0.0)
        if loss < self.best_loss - (margin if math.isfinite(self.best_loss) else 0.0):
            self.since_best = 0
        else:
            self.since_best += 1
        if loss < self.best_loss:
            self.best_loss, self.best_step = loss, step
            if self.patience:
                self.best_state = trainer.cpu_state()
        if self.patience and self.since_best >= self.patience:
            if self.plateau and self.halvings_left > 0:
                self.lr_scale *= 0.5
                self.halvings_left -= 1
                self.since_best = 0
            else:
                self._stop = True
        return Validation(step, loss, self.best_loss, self.best_step)

    def should_stop(self, step: int) -> bool:
        return self._stop and self.best_state is not None
