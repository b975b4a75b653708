"""``nsn2n export``: write a trained model as a bioimage.io model package (a .zip)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import options

EXPORT_EXAMPLES = """\
examples:
  nsn2n export ct.pt -o ct_denoiser.zip --author "Ada Lovelace" --modality CT
  nsn2n export old.pt -o old.zip --sample training_scan.nii.gz   (a model file without slices)
  nsn2n denoise next_scan.nii.gz -o next_denoised.nii.gz --model ct_denoiser.zip
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    exp = sub.add_parser(
        "export",
        help="write a saved model as a bioimage.io model package (.zip)",
        description="Write a model saved by `nsn2n denoise --save-model` as a bioimage.io model "
        "package (format 0.5): TorchScript and state-dict weights, normalisation, test tensors, "
        "cover, README. bioimageio.core's model test runs on it first (offline; a few seconds "
        "to a minute); a package that fails is not written. Needs the [bmz] extra.",
        epilog=EXPORT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    exp.add_argument("model", type=Path, help="a model file (.pt) saved by nsn2n")
    exp.add_argument("-o", "--output", required=True, type=Path, help="the package (.zip)")
    exp.add_argument(
        "--author",
        action="append",
        default=[],
        metavar="NAME",
        help="who trained the model (repeat for several; default: your login name)",
    )
    exp.add_argument("--name", help="the package's name (default: 'NS-N2N denoiser (MODALITY)')")
    exp.add_argument(
        "--modality", help="the source modality in words, e.g. CT, MRI, 'fluorescence microscopy'"
    )
    exp.add_argument("--license", default="CC-BY-4.0", help="SPDX licence id (default: CC-BY-4.0)")
    exp.add_argument("--tag", action="append", default=[], help="an extra tag (repeatable)")
    exp.add_argument(
        "--sample",
        metavar="STACK",
        help="the training stack, for the test tensors and cover of a model file that holds "
        "no slices of it",
    )
    exp.add_argument("--axis", type=options.axis, help="slice axis of --sample (default: z / 0)")
    exp.add_argument("--overwrite", action="store_true", help="replace an existing package")


def run(args: argparse.Namespace) -> int:
    from ..io import read_volume
    from ..models.bmz import PackageInfo, export_bioimageio, stack_sample
    from ..models.bundle import check_model_output, load_model

    check_model_output(args.output, args.overwrite)
    bundle = load_model(args.model)
    sample = None
    if args.sample is not None:
        volume = read_volume(args.sample, mmap=True)
        sample = stack_sample(bundle, volume.data, args.axis, volume.axes)
    if not args.author:
        print(
            "authors: your login name (name the people who trained it with --author)",
            file=sys.stderr,
        )
    info = PackageInfo(
        name=args.name,
        authors=args.author,
        license=args.license,
        modality=args.modality,
        tags=args.tag,
    )
    path = export_bioimageio(bundle, args.output, info, sample=sample, overwrite=args.overwrite)
    print(f"bioimage.io package: {path} (bioimageio.core's model test passed)", file=sys.stderr)
    return 0
