"""``nsn2n mask``: write the weight-mask volume W of a stack for a threshold."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import options


def add_parser(sub: argparse._SubParsersAction) -> None:
    msk = sub.add_parser("mask", help="write the weight-mask volume W for a threshold")
    msk.add_argument("input", type=Path)
    msk.add_argument("-o", "--output", required=True, type=Path)
    msk.add_argument(
        "--threshold",
        type=options.threshold,
        default="auto",
        help="th on the [0, 1] scale, or 'auto': the suggestion for a run of the default preset",
    )
    msk.add_argument("--axis", type=options.axis)
    options.add_reader_options(msk)
    options.add_stabilize(msk)
    msk.add_argument("--overwrite", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ..config import TrainConfig
    from ..io import check_output_path, check_outputs, write_volume
    from ..method.lowpass import LowpassSettings
    from ..pipeline import compute_differences
    from .plan import OVERWRITE, read_input

    check_output_path(args.output, args.overwrite, OVERWRITE)
    check_outputs([args.input], [args.output])
    volume = read_input(
        str(args.input), {"series": args.series, "allow_gaps": args.allow_gaps}, args.axes
    )
    for note in volume.notes:
        print(f"{args.input.name}: note: {note}", file=sys.stderr)
    settings = LowpassSettings(stabilize=args.stabilize)
    axes = volume.named_axes
    differences = compute_differences(volume.data, args.axis, axes, settings)
    # "auto" suggests th for a run of the default preset (as `nsn2n denoise` would train)
    threshold = differences.resolve_threshold(args.threshold, TrainConfig.preset("auto"))
    if differences.stabilizer is not None:
        print(
            f"LPF on variance-stabilised slices ({differences.stabilizer.describe()})",
            file=sys.stderr,
        )
    labels = differences.mask_volume(threshold)
    write_volume(args.output, volume.with_data(labels), None, args.overwrite, OVERWRITE)
    print(
        f"threshold {threshold:.5g}: {differences.matched_fraction(threshold):.1%} of pixels "
        f"matched (W = 1); mask: {args.output} (0 no pair, 1 W=1, 2 W=0)",
        file=sys.stderr,
    )
    return 0
