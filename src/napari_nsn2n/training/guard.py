"""Divergence guard: roll a training run back when its loss explodes.

Adam at a held learning rate can blow up after hundreds of healthy steps (seen on an MRI phantom
with the ``late`` schedule: the loss rose 700-fold within five epochs and never came back).
``DivergenceGuard`` keeps two weight snapshots, ``every`` steps apart; a step whose loss is not
finite or above ``factor`` times the median of the recent losses restores the older snapshot
(model and optimiser state) and halves the learning rate for the rest of the run. Healthy runs
are untouched: the guard only copies weights. The factor and window are fitted
(``napari_nsn2n.tuned``).

A run that cannot train fails with a reason instead of handing back its input or noise:
``MAX_ROLLBACKS_IN_A_ROW`` rollbacks without a healthy snapshot between them (the learning rate
is then 1/256 of the schedule's and the loss still explodes), or a run whose loss ends
``DIVERGED_FACTOR`` times above its first step's (``check_finished``) raise ``TrainingFailed``.
"""

from __future__ import annotations

import copy
import math
import statistics
from collections import deque

import torch

from ..errors import TrainingFailed
from ..events import Recovered
from ..tuned import GUARD_SNAPSHOT_EVERY, GUARD_WARMUP, GUARD_WINDOW, SPIKE_FACTOR

# Safety limits, not fitted values: 8 halvings (lr / 256) with no healthy snapshot between them;
# a run ending 1000 x above its first step's loss (batch-to-batch spread is far smaller, and the
# diverged runs seen ended 4e4 to 1e30 x above it) has diverged.
MAX_ROLLBACKS_IN_A_ROW = 8
DIVERGED_FACTOR = 1000.0


class DivergenceGuard:
    """Watches the loss of every step of one run (see the module docstring)."""

    def __init__(
        self,
        factor: float = SPIKE_FACTOR,
        window: int = GUARD_WINDOW,
        warmup: int = GUARD_WARMUP,
        every: int = GUARD_SNAPSHOT_EVERY,
    ) -> None:
        self.factor, self.warmup, self.every = factor, warmup, every
        self.losses: deque[float] = deque(maxlen=window)
        self.snapshots: deque[tuple[int, dict, dict]] = deque(maxlen=2)
        self.steps = 0
        self.lr_scale = 1.0
        self.recoveries: list[Recovered] = []
        self.peak_ratio = 0.0  # the largest loss / recent median of the steps kept (a diagnostic)
        self.in_a_row = 0  # rollbacks since the last healthy snapshot
        self.first_loss: float | None = None  # the loss of the initial weights: where it started

    def start(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Snapshot the initial weights (the rollback target of a run that breaks early)."""
        self.snapshots.append((0, *_state(model, optimizer)))

    def after_step(
        self, loss: float, model: torch.nn.Module, optimizer: torch.optim.Optimizer
    ) -> Recovered | None:
        """Check the loss of the step just taken; on a spike roll back and return the event."""
        self.steps += 1
        if self._is_spike(loss) and self.snapshots:
            restored_step, model_state, optim_state = self.snapshots[0]
            model.load_state_dict(model_state)
            optimizer.load_state_dict(copy.deepcopy(optim_state))
            self.snapshots = deque([self.snapshots[0]], maxlen=2)
            self.lr_scale *= 0.5
            median = statistics.median(self.losses) if self.losses else math.nan
            recovery = Recovered(self.steps, restored_step, loss, median, self.lr_scale)
            self.recoveries.append(recovery)
            self.in_a_row += 1
            if self.in_a_row >= MAX_ROLLBACKS_IN_A_ROW:
                raise TrainingFailed(
                    f"training failed: the loss exploded {self.in_a_row} times without a healthy "
                    f"stretch between (step {self.steps}: {loss:.3g}), even at "
                    f"x{self.lr_scale:g} of the learning rate; lower the learning rate "
                    "(--lr, learning_rate) or the loss weights"
                )
            return recovery
        self.losses.append(loss)
        if self.first_loss is None:
            self.first_loss = loss
        if self.steps % self.every == 0:
            self.snapshots.append((self.steps, *_state(model, optimizer)))
            self.in_a_row = 0
        return None

    def check_finished(self) -> None:
        """Raise ``TrainingFailed`` when the run ends with its recent losses ``DIVERGED_FACTOR``
        times above the loss of its first step: it diverged to large but finite losses (the
        weights are noise, and so would the result be)."""
        if self.first_loss is None or not self.losses:
            return
        start = max(self.first_loss, 1e-30)
        end = statistics.median(self.losses)
        if end > DIVERGED_FACTOR * start:
            raise TrainingFailed(
                f"training diverged: the loss ended at {end:.3g}, {end / start:.3g} times where "
                f"it started ({start:.3g}); lower the learning rate (--lr, learning_rate)"
            )

    def release(self) -> None:
        """Drop the snapshots (device memory)."""
        self.snapshots.clear()

    def _is_spike(self, loss: float) -> bool:
        if not math.isfinite(loss):
            return True
        if len(self.losses) < self.warmup:
            return False
        ratio = loss / max(statistics.median(self.losses), 1e-30)
        if ratio > self.factor:
            return True
        self.peak_ratio = max(self.peak_ratio, ratio)
        return False


def _state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return weights, copy.deepcopy(optimizer.state_dict())
