"""Shared by the benchmark scripts: run a Trainer's schedule and stop at evaluation checkpoints."""

from __future__ import annotations

import time
from collections.abc import Iterator

from napari_nsn2n.training.trainer import Trainer


def train_with_checkpoints(
    trainer: Trainer, every: int, max_steps: int | None = None
) -> Iterator[tuple[int, float]]:
    """Train with the config's learning-rate schedule; yield (step, training seconds) every
    ``every`` steps and at the last one (the whole schedule, or ``max_steps``). Only the optimiser
    steps are timed: whatever the caller does between yields (evaluation) is not counted."""
    last = trainer.total_steps if max_steps is None else min(max_steps, trainer.total_steps)
    step, seconds = 0, 0.0
    for epoch in range(trainer.config.epochs):
        lr = trainer.learning_rate(epoch)
        for batch in trainer.sampler.epoch():
            start = time.perf_counter()
            trainer.step(batch, lr)
            seconds += time.perf_counter() - start
            step += 1
            if step % every == 0 or step == last:
                yield step, seconds
            if step >= last:
                return
