"""Training configuration: the paper's defaults, validated, serialisable to a plain dict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import NSN2NError


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one NS-N2N training run.

    Paper values (Zhou et al., sec. 4.1): Adam(beta1=0.5, beta2=0.999), lr 1e-3 halved every 20
    epochs, 100 epochs, lambda_RC = 0.5, lambda_IC = 1. One *epoch* carries as many pixels as the
    paper's (every neighbouring pair once, whole slices): with ``patch_size`` set, each pair gives
    ceil(H W / patch^2) random patches per epoch. The learning rate halves every
    ``lr_halving_epochs`` epochs, by default every fifth of the schedule (20 of 100, as the paper).
    """

    epochs: int = 100
    learning_rate: float = 1e-3
    lr_halving_epochs: int | None = None
    beta1: float = 0.5
    beta2: float = 0.999
    lambda_rc: float = 0.5
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

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (
                self.lr_halving_epochs is None or self.lr_halving_epochs >= 1,
                "lr_halving_epochs must be >= 1 or None",
            ),
            (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "Adam betas must be in [0, 1)"),
            (self.lambda_rc >= 0 and self.lambda_ic >= 0, "loss weights must be >= 0"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.patch_size is None or self.patch_size >= 16, "patch_size must be >= 16 or None"),
            (self.base_channels >= 4, "base_channels must be >= 4"),
            (1 <= self.depth <= 6, "depth must be between 1 and 6"),
            (self.num_threads is None or self.num_threads >= 1, "num_threads must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise NSN2NError(f"invalid training setting: {message}")

    @classmethod
    def preset(cls, name: str = "auto", **overrides: Any) -> TrainConfig:
        """Named defaults: ``"paper"`` (the paper's schedule and a 32-channel U-Net on 128 px
        patches), ``"fast"`` (a 16-channel U-Net on 64 px patches for ``FAST_EPOCHS`` epochs,
        measured to come within 0.3 dB of its final PSNR in under 3 minutes on 2 CPU cores,
        docs/performance.md), or ``"auto"``: paper where CUDA or MPS is available, else fast.
        ``overrides`` replace single fields."""
        if name == "auto":
            from .device import available_devices

            device = overrides.get("device", "auto")
            has_gpu = available_devices()[0] != "cpu" if device == "auto" else device != "cpu"
            name = "paper" if has_gpu else "fast"
        if name not in PRESETS:
            raise NSN2NError(f"unknown preset {name!r}; choose auto, {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    @property
    def halving_epochs(self) -> int:
        """Epochs between two halvings of the learning rate: ``lr_halving_epochs``, or by default
        a fifth of the schedule (20 of 100 epochs, as in the paper)."""
        return self.lr_halving_epochs or max(1, round(self.epochs / 5))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a dict, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


FAST_EPOCHS = 16
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "fast": {"epochs": FAST_EPOCHS, "base_channels": 16, "patch_size": 64, "batch_size": 8},
}
