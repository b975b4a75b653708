"""Argument types and options shared by the sub-commands.

Every option is checked where argparse reads it, so a bad value is one line naming the option as
typed (exit 2) before anything is read or trained.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import replace

from ..config import DEVICE_PATTERN, SEED_LIMIT, TrainConfig
from ..errors import InvalidSettingError
from ..method.noise_model import STABILIZE_MODES


class UsageError(InvalidSettingError):
    """Options that cannot go together (exit 2, like argparse's own errors)."""


def auto_or_number(text: str, valid: Callable[[float], bool], rule: str) -> float | str:
    """``"auto"``, or a number for which ``valid`` holds (else ``rule`` is the error)."""
    if text.lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None
    if not math.isfinite(value) or not valid(value):
        raise argparse.ArgumentTypeError(rule.format(text))
    return value


def threshold(text: str) -> float | str:
    return auto_or_number(
        text, lambda v: 0 <= v <= 1, "the threshold lives on the [0, 1] normalised scale"
    )


def lambda_rc(text: str) -> float | str:
    return auto_or_number(text, lambda v: v >= 0, "the weight of L_RC must be >= 0, got {}")


def rician(text: str) -> float | str:
    """``--rician`` value: "auto" or a noise sigma > 0 in input units."""
    return auto_or_number(text, lambda v: v > 0, "the Rician sigma must be > 0, got {}")


def axis(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def whole(text: str, lowest: int = 1, highest: int | None = None, rule: str = "") -> int:
    """A whole number in [lowest, highest] (``rule`` explains the bounds, e.g. "0 turns it off")."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < lowest or (highest is not None and value > highest):
        bounds = f">= {lowest}" if highest is None else f"from {lowest} to {highest}"
        raise argparse.ArgumentTypeError(f"must be {bounds}{rule}, got {value}")
    return value


def positive(text: str) -> int:
    return whole(text)


def off_or_positive(text: str) -> int:
    """0 (off) or a whole number >= 1."""
    return whole(text, 0, rule=" (0 turns it off)")


def patch_size(text: str) -> int:
    value = whole(text, 0, rule=" (0: whole slices)")
    if 0 < value < 16:
        raise argparse.ArgumentTypeError(f"must be 0 (whole slices) or >= 16, got {value}")
    return value


def seed(text: str) -> int:
    return whole(text, 0, SEED_LIMIT - 1)


def number(text: str, valid: Callable[[float], bool] = lambda v: True, rule: str = "") -> float:
    """A finite number for which ``valid`` holds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or not valid(value):
        raise argparse.ArgumentTypeError(f"{rule or 'must be a finite number'}, got {text}")
    return value


def learning_rate(text: str) -> float:
    return number(text, lambda v: v > 0, "must be a finite number > 0")


def weight(text: str) -> float:
    return number(text, lambda v: v >= 0, "must be a finite number >= 0")


def holdout_fraction(text: str) -> float:
    return number(text, lambda v: 0 <= v < 0.5, "must be a fraction >= 0 and < 0.5")


def device(text: str) -> str:
    """auto, cpu, cuda, cuda:N or mps, in any case ("CPU" is the CPU)."""
    name = text.strip().lower()
    if not DEVICE_PATTERN.fullmatch(name):
        raise argparse.ArgumentTypeError(f"choose auto, cpu, cuda, cuda:N or mps, got {text!r}")
    return name


def axes(text: str) -> str:
    """Axis letters for data whose file names none, e.g. TZYX."""
    letters = text.strip().upper()
    if not letters or set(letters) - set("TZCYX") or len(set(letters)) != len(letters):
        raise argparse.ArgumentTypeError(
            f"expected distinct letters of T, Z, C, Y, X (e.g. TZYX), got {text!r}"
        )
    return letters


def add_reader_options(parser: argparse.ArgumentParser) -> None:
    """--series, --allow-gaps, --axes: how inputs are read."""
    parser.add_argument(
        "--series",
        metavar="ID",
        help="which series of a DICOM folder (SeriesInstanceUID or SeriesNumber) or of a TIFF"
        " file (0, 1, ...) to read; by default the largest DICOM series, the first TIFF series",
    )
    parser.add_argument(
        "--allow-gaps",
        action="store_true",
        help="read a DICOM series with unreadable files or uneven slice steps (the gaps are"
        " reported) instead of refusing it",
    )
    parser.add_argument(
        "--axes",
        type=axes,
        metavar="LETTERS",
        help="name the axes of inputs whose files name none (.npy, plain TIFF), e.g. TZYX;"
        " then --axis z / t can pick the slice axis of 4D data",
    )


def add_stabilize(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stabilize",
        choices=STABILIZE_MODES,
        default="auto",
        help="variance-stabilise signal-dependent (Poisson-Gaussian) noise before the LPF that "
        "makes the masks: auto = when the fitted noise grows with the signal (default)",
    )


def held_out_fraction(args: argparse.Namespace) -> float:
    """The held-out fraction of the run: --holdout, else the preset's."""
    if args.holdout is not None:
        return args.holdout
    return TrainConfig.preset(args.preset, device=args.device).validation_fraction


def training_config(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig the options ask for: the preset, then each option given (the options are
    checked by argparse, so what TrainConfig refuses here is a combination). A run given
    --epochs or --min-steps (and no --stop-patience), --stop-patience 0 or --holdout 0 trains its
    whole planned length (``TrainConfig.fixed_length``)."""
    overrides = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "lr_schedule": args.lr_schedule,
        "lambda_rc": args.lambda_rc,
        "lambda_ic": args.lambda_ic,
        "lambda_self": args.lambda_self,
        "validation_fraction": args.holdout,
        "stop_patience": args.stop_patience or None,
        "num_threads": args.threads,
    }
    config = TrainConfig.preset(args.preset, device=args.device)
    length_asked = args.epochs is not None or args.min_steps is not None
    if (
        args.stop_patience == 0
        or args.holdout == 0
        or (args.stop_patience is None and length_asked)
    ):
        config = config.fixed_length()
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    if args.patch_size is not None:
        config = replace(config, patch_size=args.patch_size or None)
    if args.min_steps is not None:
        config = replace(config, min_steps=args.min_steps or None)
    elif args.epochs is not None:  # explicit epochs are trained as asked
        config = replace(config, min_steps=None)
    return replace(config, seed=args.seed, device=args.device, use_mask=not args.no_mask)
