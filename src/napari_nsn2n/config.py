"""Training configuration: the paper's defaults, validated, serialisable to a plain dict."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace
from typing import Annotated, Any, Literal, get_args

from pydantic import Field

from . import tuned
from .errors import InvalidSettingError, NSN2NError
from .field_checks import check_fields, check_keys

PAPER_LAMBDA_RC = 0.5
LrSchedule = Literal["step", "late", "plateau"]
LR_SCHEDULES: tuple[str, ...] = get_args(LrSchedule)
LossReduction = Literal["mean", "sum"]
Target = Literal["mask", "guided"]  # W = 0 pixels: left out (the paper) or given guided targets
TARGETS: tuple[str, ...] = get_args(Target)
SEED_LIMIT = 2**32  # seeds are 0 .. 2**32 - 1 (numpy's and torch's generators both take them)
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def device_name(device: str, what: str) -> str:
    """``device`` in lower case ("CPU" is the CPU), or InvalidSettingError when it is none."""
    name = device.strip().lower()
    if not DEVICE_PATTERN.fullmatch(name):
        raise InvalidSettingError(
            f"invalid {what}: device must be auto, cpu, cuda, cuda:N or mps, got {device!r}"
        )
    return name


Count = Annotated[int, Field(ge=1)]
Fraction = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
Weight = Annotated[float, Field(ge=0, allow_inf_nan=False)]


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one NS-N2N training run.

    Paper values (Zhou et al., sec. 4.1): Adam(beta1=0.5, beta2=0.999), lr 1e-3 halved every 20
    epochs, 100 epochs, lambda_RC = 0.5, lambda_IC = 1. One *epoch* carries as many pixels as the
    paper's (every neighbouring pair once, whole slices): with ``patch_size`` set, each pair gives
    ceil(H W / patch^2) random patches per epoch. The learning rate halves every
    ``lr_halving_epochs`` epochs, by default every fifth of the schedule (20 of 100, as the paper);
    ``lr_schedule="late"`` (our addition, the fast preset's) holds it for the first half of the run
    and then halves it every tenth (``learning_rate_at``).
    ``min_steps`` raises the number of epochs on a short stack until the run plans at least that
    many optimiser steps (an epoch of 32 slices is only a few steps; ``epochs_for``); a stop rule
    may end it sooner.
    ``lambda_rc="auto"`` (our addition, the fast and auto presets'): the paper's 0.5 where the noise
    is correlated within slices (CT), 0 where it is not (``resolved``; docs/method.md).
    ``target="guided"`` (our addition, after NGPS): the unmatched pixels (W = 0) get a guided
    neighbour target instead of being left out of L_recon (``method.guided``).
    ``lambda_self`` (our addition, 0 = the paper): the weight of L_self, which holds the
    unmatched pixels to their own slice (``method.losses``).
    ``validation_fraction`` (our addition): that fraction of every slice, in small blocks, is left
    out of the loss, and the loss on it is measured every ``validation_every`` steps
    (``training.validation``); with ``stop_patience`` training stops after that many
    measurements without a new best (``training.loop.StopRule``). ``fixed_length`` gives the
    same settings for a run of exactly the planned length.
    """

    epochs: Count = 100
    min_steps: Count | None = None
    learning_rate: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1e-3
    lr_halving_epochs: Count | None = None
    lr_schedule: LrSchedule = "step"
    beta1: Fraction = 0.5
    beta2: Fraction = 0.999
    adam_eps: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1e-8
    loss_reduction: LossReduction = "mean"
    lambda_rc: Weight | Literal["auto"] = PAPER_LAMBDA_RC
    lambda_ic: Weight = 1.0
    lambda_self: Weight = 0.0
    use_mask: bool = True
    batch_size: Count = 4
    patch_size: Annotated[int, Field(ge=16)] | None = 128
    augment: bool = True
    base_channels: Annotated[int, Field(ge=4)] = 32
    depth: Annotated[int, Field(ge=1, le=6)] = 3
    residual: bool = True
    group_norm: bool = False
    seed: Annotated[int, Field(ge=0, lt=SEED_LIMIT)] = 0
    device: str = "auto"
    mixed_precision: bool = True
    num_threads: Count | None = None
    target: Target = "mask"
    validation_fraction: Annotated[float, Field(ge=0, lt=0.5, allow_inf_nan=False)] = 0.0
    validation_every: Count = 50
    stop_patience: Count | None = None
    plateau_tolerance: Weight = tuned.PLATEAU_TOLERANCE
    plateau_halvings: Annotated[int, Field(ge=0)] = tuned.PLATEAU_HALVINGS

    def __post_init__(self) -> None:
        """Types and ranges of every field (``field_checks``), then the rules between fields.
        ``device`` is kept in lower case ("CPU" is the CPU)."""
        check_fields(self, "training setting")
        object.__setattr__(self, "device", device_name(self.device, "training setting"))
        if self.stop_patience is not None and self.validation_fraction <= 0:
            raise InvalidSettingError(
                "invalid training setting: stop_patience needs validation_fraction > 0"
            )
        if self.lr_schedule == "plateau" and self.stop_patience is None:
            raise InvalidSettingError(
                "invalid training setting: the plateau lr schedule needs stop_patience (and "
                "validation_fraction > 0)"
            )

    @classmethod
    def preset(cls, name: str = "auto", **overrides: Any) -> TrainConfig:
        """Named defaults: ``"paper"`` (the paper's schedule and a 32-channel U-Net on 128 px
        patches), ``"fast"`` (the CPU preset of ``napari_nsn2n.tuned``: a narrower U-Net on
        smaller patches, at least ``FAST_MIN_STEPS`` steps, the ``"late"`` lr schedule),
        ``"quick"`` (the fast network on 48 px patches, stopped by the held-out loss within a plan
        of ``QUICK_PLANNED_STEPS`` steps), or
        ``"auto"``: paper where CUDA or MPS is available (also with at least ``FAST_MIN_STEPS``
        steps), else fast. ``overrides`` replace single fields."""
        if name == "auto":
            from .device import available_devices

            device = str(overrides.get("device", "auto")).strip().lower()
            has_gpu = available_devices()[0] != "cpu" if device == "auto" else device != "cpu"
            if has_gpu:
                overrides = {"min_steps": FAST_MIN_STEPS, "lambda_rc": "auto", **overrides}
            name = "paper" if has_gpu else "fast"
        if name not in PRESETS:
            raise NSN2NError(f"unknown preset {name!r}; choose auto, {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    @property
    def halving_epochs(self) -> int:
        """Epochs between two halvings of the learning rate: ``lr_halving_epochs``, or by default
        a fifth of the schedule (20 of 100 epochs, as in the paper)."""
        return self.halving_for(self.epochs)

    def epochs_for(self, steps_per_epoch: int) -> int:
        """Epochs actually trained when an epoch is ``steps_per_epoch`` steps: ``epochs``, raised
        to ceil(min_steps / steps_per_epoch) when ``min_steps`` asks for more."""
        if not self.min_steps:
            return self.epochs
        return max(self.epochs, math.ceil(self.min_steps / max(steps_per_epoch, 1)))

    def patch_shape(self, height: int, width: int) -> tuple[int, int]:
        """Training patch on ``height`` x ``width`` slices: ``patch_size`` clipped to the slice,
        or the whole slice."""
        if not self.patch_size:
            return height, width
        return min(self.patch_size, height), min(self.patch_size, width)

    def patches_per_pair(self, height: int, width: int) -> int:
        """Patches per pair and epoch: ceil(H W / patch area), the pixels of the pair once."""
        patch_h, patch_w = self.patch_shape(height, width)
        return math.ceil(height * width / (patch_h * patch_w))

    def steps_per_epoch(self, n_pairs: int, height: int, width: int) -> int:
        """Optimiser steps in one epoch over ``n_pairs`` pairs of ``height`` x ``width`` slices
        (``train.PairSampler``)."""
        return math.ceil(n_pairs * self.patches_per_pair(height, width) / self.batch_size)

    def planned_steps(self, n_pairs: int, height: int, width: int) -> int:
        """Optimiser steps of a whole run on such a stack (``min_steps`` included)."""
        per_epoch = self.steps_per_epoch(n_pairs, height, width)
        return self.epochs_for(per_epoch) * per_epoch

    def halving_for(self, epochs: int) -> int:
        """``halving_epochs`` for a schedule of ``epochs`` epochs (the default stays a fifth)."""
        return self.lr_halving_epochs or max(1, round(epochs / 5))

    def learning_rate_at(self, epoch: int, epochs: int) -> float:
        """Learning rate of epoch ``epoch`` (from 0) of a run of ``epochs`` epochs.

        ``"step"`` (the paper's): lr_0 * 0.5 ** floor(epoch / halving), halving every
        ``halving_for(epochs)`` epochs. ``"late"``: lr_0 for the first half of the run, then halved
        every tenth of it (lr_0 / 2 from the middle, lr_0 / 32 in the last tenth). ``"plateau"``:
        lr_0 here; the held-out loss halves it when it stops falling (``training.loop.StopRule``).
        """
        if self.lr_schedule == "plateau":
            return self.learning_rate
        if self.lr_schedule == "late":
            tenths_past_half = (10 * epoch - 5 * epochs) // epochs  # integers: exact at the edges
            halvings = 1 + tenths_past_half if tenths_past_half >= 0 else 0
            return self.learning_rate * 0.5**halvings
        return self.learning_rate * 0.5 ** (epoch // self.halving_for(epochs))

    def resolved(self, correlated_noise: bool | None) -> TrainConfig:
        """This config with a number for ``lambda_rc="auto"``: the paper's 0.5 where the noise is
        correlated within slices (``PairDifferences.correlated_noise``) or unknown (None), else 0
        (both fitted, ``napari_nsn2n.tuned``).

        L_RC (Eq. 5) makes the outputs of a pair equal where W = 1. Where the network leaves
        correlated noise blotches that is a strong regulariser; where the noise is
        pixel-independent it mostly pulls each output towards its neighbour's structure, which
        the mask lets differ by up to th.
        """
        if self.lambda_rc != "auto":
            return self
        keep = correlated_noise is None or correlated_noise
        weight = tuned.AUTO_LAMBDA_RC_CORRELATED if keep else tuned.AUTO_LAMBDA_RC_INDEPENDENT
        return replace(self, lambda_rc=weight)

    def fixed_length(self) -> TrainConfig:
        """These settings for a run of exactly its planned steps: no stop rule, and the ``late``
        schedule in place of ``plateau`` (which needs one). The held-out loss is still reported."""
        if self.stop_patience is None:
            return self
        schedule = tuned.FAST_LR_SCHEDULE if self.lr_schedule == "plateau" else self.lr_schedule
        return replace(self, stop_patience=None, lr_schedule=schedule)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a dict (``to_dict``'s); a key this version does not know is refused with
        its name (a typo in a saved config must not be dropped silently)."""
        check_keys(cls, values, "training setting")
        return cls(**values)


FAST_EPOCHS = tuned.FAST_EPOCHS
FAST_MIN_STEPS = tuned.FAST_MIN_STEPS
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "fast": {
        "epochs": tuned.FAST_EPOCHS,
        "min_steps": tuned.FAST_MIN_STEPS,
        "base_channels": tuned.FAST_CHANNELS,
        "patch_size": tuned.FAST_PATCH,
        "batch_size": tuned.FAST_BATCH,
        "lr_schedule": tuned.FAST_LR_SCHEDULE,
        "lambda_rc": "auto",
    },
}
PRESETS["quick"] = {
    **PRESETS["fast"],
    "min_steps": tuned.QUICK_PLANNED_STEPS,
    "patch_size": tuned.QUICK_PATCH,
    "batch_size": tuned.QUICK_BATCH,
    "lr_schedule": tuned.QUICK_LR_SCHEDULE,
    "validation_fraction": tuned.QUICK_HOLDOUT,
    "stop_patience": tuned.QUICK_STOP_PATIENCE,
}
