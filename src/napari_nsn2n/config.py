"""Training configuration: the paper's defaults, validated, serialisable to a plain dict."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from . import tuned
from .errors import NSN2NError

PAPER_LAMBDA_RC = 0.5


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
    ``min_steps`` raises the number of epochs on a short stack until the run makes at least that
    many optimiser steps (an epoch of 32 slices is only a few steps; ``epochs_for``).
    ``lambda_rc="auto"`` (our addition, the fast and auto presets'): the paper's 0.5 where the noise
    is correlated within slices (CT), 0 where it is not (``resolved``; docs/method.md).
    ``target="guided"`` (our addition, after NGPS): the unmatched pixels (W = 0) get a guided
    neighbour target instead of being left out of L_recon (``method.guided``).
    ``validation_fraction`` (our addition): that fraction of every slice, in small blocks, is left
    out of the loss, and the loss on it is measured every ``validation_every`` steps
    (``training.validation``); with ``stop_patience`` training stops after that many
    measurements without a new best (never before ``min_steps``).
    """

    epochs: int = 100
    min_steps: int | None = None
    learning_rate: float = 1e-3
    lr_halving_epochs: int | None = None
    lr_schedule: str = "step"
    beta1: float = 0.5
    beta2: float = 0.999
    adam_eps: float = 1e-8
    loss_reduction: str = "mean"
    lambda_rc: float | str = PAPER_LAMBDA_RC
    lambda_ic: float = 1.0
    use_mask: bool = True
    batch_size: int = 4
    patch_size: int | None = 128
    augment: bool = True
    base_channels: int = 32
    depth: int = 3
    residual: bool = True
    group_norm: bool = False
    seed: int = 0
    device: str = "auto"
    mixed_precision: bool = True
    num_threads: int | None = None
    target: str = "mask"
    validation_fraction: float = 0.0
    validation_every: int = 50
    stop_patience: int | None = None
    plateau_tolerance: float = 0.01
    plateau_halvings: int = 4

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.min_steps is None or self.min_steps >= 1, "min_steps must be >= 1 or None"),
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (
                self.lr_halving_epochs is None or self.lr_halving_epochs >= 1,
                "lr_halving_epochs must be >= 1 or None",
            ),
            (
                self.lr_schedule in LR_SCHEDULES,
                f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}",
            ),
            (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "Adam betas must be in [0, 1)"),
            (self.adam_eps > 0, "adam_eps must be > 0"),
            (self.loss_reduction in ("mean", "sum"), "loss_reduction must be 'mean' or 'sum'"),
            (
                self.lambda_rc == "auto"
                or (not isinstance(self.lambda_rc, str) and self.lambda_rc >= 0),
                "lambda_rc must be >= 0 or 'auto'",
            ),
            (self.lambda_ic >= 0, "lambda_ic must be >= 0"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.patch_size is None or self.patch_size >= 16, "patch_size must be >= 16 or None"),
            (self.base_channels >= 4, "base_channels must be >= 4"),
            (1 <= self.depth <= 6, "depth must be between 1 and 6"),
            (self.num_threads is None or self.num_threads >= 1, "num_threads must be >= 1"),
            (self.target in TARGETS, f"target must be one of {', '.join(TARGETS)}"),
            (0 <= self.validation_fraction < 0.5, "validation_fraction must be in [0, 0.5)"),
            (self.validation_every >= 1, "validation_every must be >= 1"),
            (
                self.stop_patience is None or self.stop_patience >= 1,
                "stop_patience must be >= 1 or None",
            ),
            (
                self.stop_patience is None or self.validation_fraction > 0,
                "stop_patience needs validation_fraction > 0",
            ),
            (
                self.lr_schedule != "plateau" or self.stop_patience is not None,
                "the plateau lr schedule needs stop_patience (and validation_fraction > 0)",
            ),
            (self.plateau_tolerance >= 0, "plateau_tolerance must be >= 0"),
            (self.plateau_halvings >= 0, "plateau_halvings must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise NSN2NError(f"invalid training setting: {message}")

    @classmethod
    def preset(cls, name: str = "auto", **overrides: Any) -> TrainConfig:
        """Named defaults: ``"paper"`` (the paper's schedule and a 32-channel U-Net on 128 px
        patches), ``"fast"`` (the CPU preset of ``napari_nsn2n.tuned``: a narrower U-Net on
        smaller patches, at least ``FAST_MIN_STEPS`` steps, the ``"late"`` lr schedule), or
        ``"auto"``: paper where CUDA or MPS is available (also with at least ``FAST_MIN_STEPS``
        steps), else fast. ``overrides`` replace single fields."""
        if name == "auto":
            from .device import available_devices

            device = overrides.get("device", "auto")
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a dict, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


LR_SCHEDULES = ("step", "late", "plateau")
TARGETS = ("mask", "guided")  # W = 0 pixels: left out (the paper) or given guided targets
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
