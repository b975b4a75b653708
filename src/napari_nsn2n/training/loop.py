"""The training loop as a generator of progress events (steps, epochs, rollbacks, previews)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np

from ..control import RunControl
from ..events import EpochEnd, Preview, Recovered, TrainingStarted, TrainStep
from .trainer import Trainer


def training_events(
    trainer: Trainer,
    control: RunControl | None = None,
    preview_index: int | Callable[[], int] | None = None,
    preview_every: int = 0,
    to_units: Callable[[np.ndarray], np.ndarray] = lambda a: a,
) -> Iterator[TrainingStarted | TrainStep | EpochEnd | Recovered | Preview]:
    """Train for ``trainer.epochs`` epochs, yielding a ``TrainStep`` per step, an ``EpochEnd`` per
    epoch, a ``Recovered`` after a step whose loss exploded (the run goes on from restored
    weights) and, every ``preview_every`` steps, a ``Preview`` of slice ``preview_index`` (an index
    or a callable returning one, e.g. the slice the viewer shows). Ends early when ``control``
    stops."""
    control = control or RunControl()
    yield TrainingStarted(
        total_steps=trainer.total_steps,
        epochs=trainer.epochs,
        steps_per_epoch=trainer.steps_per_epoch,
        n_pairs=len(trainer.sampler.pair_starts),
        device=str(trainer.device),
    )
    start, step = time.perf_counter(), 0
    trainer.model.train()
    for epoch in range(trainer.epochs):
        lr, losses = trainer.learning_rate(epoch), []
        for batch in trainer.sampler.epoch():
            control.wait_while_paused()
            if control.stopped:
                return
            step_lr = lr * trainer.guard.lr_scale  # before a rollback in this step halves it
            total, recon, rc, ic = trainer.step(batch, lr)
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
        yield EpochEnd(
            epoch + 1, trainer.epochs, float(np.mean(losses)), time.perf_counter() - start
        )
