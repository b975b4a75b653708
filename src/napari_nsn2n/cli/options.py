"""Argument types and options shared by the sub-commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..method.noise_model import STABILIZE_MODES


def auto_or_number(text: str, valid: Callable[[float], bool], rule: str) -> float | str:
    """``"auto"``, or a number for which ``valid`` holds (else ``rule`` is the error)."""
    if text.lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None
    if not valid(value):
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


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def add_stabilize(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stabilize",
        choices=STABILIZE_MODES,
        default="auto",
        help="variance-stabilise signal-dependent (Poisson-Gaussian) noise before the LPF that "
        "makes the masks: auto = when the fitted noise grows with the signal (default)",
    )
