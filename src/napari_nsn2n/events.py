"""Small typed progress events yielded by the engine's generators.

The CLI progress bar, the napari worker and the tests all consume these. They hold plain Python
numbers and CPU numpy arrays only: never a model or a device tensor, so they can cross threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

import numpy as np

if TYPE_CHECKING:
    from .models.bundle import ModelBundle


@dataclass(frozen=True)
class StageProgress:
    """Progress of a non-training stage: ``stage`` is "lowpass", "training" or "inference"."""

    stage: str
    done: int
    total: int


@dataclass(frozen=True)
class TrainingStarted:
    """Training begins: its plan, and what the pipeline chose for it (the threshold and its
    matched fraction, None without a mask; the L_RC weight, and whether "auto" chose it)."""

    total_steps: int
    epochs: int
    steps_per_epoch: int
    n_pairs: int
    device: str
    threshold: float | None = None
    matched_fraction: float | None = None
    lambda_rc: float | None = None
    lambda_rc_auto: bool = False


@dataclass(frozen=True)
class TrainStep:
    """One optimiser step. Loss terms are Eq. 4-7 of the paper; ``loss`` is their weighted sum."""

    step: int
    total_steps: int
    epoch: int
    loss: float
    recon: float
    rc: float
    ic: float
    lr: float
    elapsed_s: float

    @property
    def eta_s(self) -> float:
        return self.elapsed_s / max(self.step, 1) * (self.total_steps - self.step)


@dataclass(frozen=True)
class Validation:
    """The loss on pixels held out from training at ``step`` (``training.validation``): it
    tracks the error against the clean stack plus a constant, so lower is better; ``best_step``
    is where it was lowest so far."""

    step: int
    loss: float
    best_loss: float
    best_step: int


@dataclass(frozen=True)
class EpochEnd:
    epoch: int
    epochs: int
    mean_loss: float
    elapsed_s: float


@dataclass(frozen=True)
class Recovered:
    """The loss exploded at ``step`` (``loss``, against a recent median of ``median``): the
    weights of step ``restored_step`` were restored and the learning rate is ``lr_scale`` x the
    schedule's for the rest of the run (``guard.DivergenceGuard``)."""

    step: int
    restored_step: int
    loss: float
    median: float
    lr_scale: float

    def message(self) -> str:
        return (
            f"loss spike at step {self.step} ({self.loss:.3g}, median {self.median:.3g}): "
            f"weights of step {self.restored_step} restored, learning rate x{self.lr_scale:g}"
        )


@dataclass(frozen=True)
class Preview:
    """A CPU copy of one denoised slice, in the input's units, taken during training."""

    step: int
    index: int
    image: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Finished:
    """The end of a run or an application of a model: the denoised stack (input shape and
    units) and the model that made it."""

    denoised: np.ndarray = field(repr=False)
    model: ModelBundle = field(repr=False)
    elapsed_s: float = 0.0
    stopped_early: bool = False


Event = Union[  # noqa: UP007
    StageProgress, TrainingStarted, TrainStep, Validation, EpochEnd, Recovered, Preview, Finished
]
