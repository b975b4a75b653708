"""The ``nsn2n`` command line: denoise stacks and write weight masks, on the same engine as the plugin."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .config import LR_SCHEDULES
from .noise_model import STABILIZE_MODES

EXAMPLES = """\
examples:
  nsn2n denoise scan.nii.gz -o scan_denoised.nii.gz
  nsn2n denoise ct_series_dir/ -o ct_denoised.tif --threshold 0.01 --epochs 60 --save-model ct.pt
  nsn2n denoise timelapse.tif -o out.tif --axis t --device cuda
  nsn2n denoise next_scan.nii.gz -o next_denoised.nii.gz --model ct.pt
  nsn2n denoise t1_magnitude.nii.gz -o t1_denoised.nii.gz --rician   (magnitude MRI: no Rician floor)
  nsn2n denoise a.tif b.tif c.tif -o denoised/          (several inputs: -o is a folder)
  nsn2n mask scan.nii.gz --threshold 0.01 -o scan_mask.tif
"""


def _auto_or_number(text: str, valid: Callable[[float], bool], rule: str) -> float | str:
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


def _threshold(text: str) -> float | str:
    return _auto_or_number(
        text, lambda v: 0 <= v <= 1, "the threshold lives on the [0, 1] normalised scale"
    )


def _lambda_rc(text: str) -> float | str:
    return _auto_or_number(text, lambda v: v >= 0, "the weight of L_RC must be >= 0, got {}")


def _axis(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def _rician(text: str) -> float | str:
    """``--rician`` value: "auto" or a noise sigma > 0 in input units."""
    return _auto_or_number(text, lambda v: v > 0, "the Rician sigma must be > 0, got {}")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="nsn2n",
        description="Neighboring Slice Noise2Noise: self-supervised denoising of one 3D stack.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    den = sub.add_parser(
        "denoise",
        help="train on a stack and write it denoised",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    den.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="TIFF, NIfTI (.nii/.nii.gz), .npy or a DICOM series folder",
    )
    den.add_argument(
        "-o",
        "--output",
        required=True,
        type=Path,
        help="output file (.tif/.nii.gz/.npy), or a folder for several inputs",
    )
    den.add_argument(
        "--threshold",
        type=_threshold,
        default="auto",
        help="th of Eq. 3 on the [0, 1] scale, or 'auto': suggested from the LPF differences "
        "for the training run's planned steps (default: auto)",
    )
    den.add_argument(
        "--preset",
        default="auto",
        choices=("auto", "paper", "fast"),
        help="training defaults: paper (100 epochs, 32-channel U-Net), fast (16 epochs,"
        " 16 channels, 64 px patches: minutes on a CPU), auto: paper on a GPU, fast on"
        " a CPU (default); fast and auto train at least 1500 steps on short stacks",
    )
    den.add_argument("--epochs", type=int, help="training epochs (default: from --preset)")
    den.add_argument(
        "--min-steps",
        type=int,
        help="raise the epochs until training makes at least this many optimiser steps"
        " (default: from --preset; 0 turns it off)",
    )
    den.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda, mps")
    den.add_argument("--axis", type=_axis, help="slice axis: index or letter z/t (default: z / 0)")
    den.add_argument("--save-model", type=Path, help="write the trained model here (.pt)")
    den.add_argument("--model", type=Path, help="apply this saved model instead of training")
    den.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    den.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    den.add_argument("--batch-size", type=int, help="pairs per step")
    den.add_argument(
        "--patch-size", type=int, help="training patch side in pixels (0: whole slices)"
    )
    den.add_argument("--lr", type=float, help="initial learning rate (default: 1e-3)")
    den.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        help="step: halve the lr every fifth of the epochs (the paper's); late: hold it for"
        " half the run, then halve every tenth (default: from --preset; fast and auto on a"
        " CPU: late)",
    )
    den.add_argument(
        "--lambda-rc",
        type=_lambda_rc,
        metavar="{auto,WEIGHT}",
        help="weight of L_RC; auto: the paper's 0.5 where the noise is correlated within slices"
        " (CT), else 0 (default: from --preset; paper: 0.5, fast and auto: auto)",
    )
    den.add_argument("--lambda-ic", type=float, help="weight of L_IC (default: 1.0)")
    den.add_argument("--no-mask", action="store_true", help="ablation: W_i = 1 everywhere")
    _stabilize_option(den)
    den.add_argument(
        "--tta", action="store_true", help="average over 8 flips/rotations at inference"
    )
    den.add_argument(
        "--rician",
        nargs="?",
        const="auto",
        default=False,
        type=_rician,
        metavar="SIGMA",
        help="magnitude MRI: remove the Rician bias (background floor) from the result; SIGMA "
        "is the noise level in input units, estimated from the stack when left out",
    )
    den.add_argument(
        "--keep-dtype",
        action="store_true",
        help="cast the output back to the input's dtype (default: float32)",
    )
    den.add_argument("--threads", type=int, help="CPU threads for torch (default: all cores)")
    den.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    msk = sub.add_parser("mask", help="write the weight-mask volume W for a threshold")
    msk.add_argument("input", type=Path)
    msk.add_argument("-o", "--output", required=True, type=Path)
    msk.add_argument(
        "--threshold",
        type=_threshold,
        default="auto",
        help="th on the [0, 1] scale, or 'auto': the suggestion for a run of the default preset",
    )
    msk.add_argument("--axis", type=_axis)
    _stabilize_option(msk)
    msk.add_argument("--overwrite", action="store_true")
    return parser


def _stabilize_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stabilize",
        choices=STABILIZE_MODES,
        default="auto",
        help="variance-stabilise signal-dependent (Poisson-Gaussian) noise before the LPF that "
        "makes the masks: auto = when the fitted noise grows with the signal (default)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    from .errors import NSN2NError

    args = build_parser().parse_args(argv)
    try:
        if args.command == "mask":
            from ._cli_commands import run_mask

            return run_mask(args)
        from ._cli_commands import run_denoise

        return run_denoise(args)
    except NSN2NError as exc:
        print(f"nsn2n: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nsn2n: interrupted; nothing written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
