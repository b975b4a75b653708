"""``nsn2n denoise``: train on each input and write it denoised, or apply a saved model."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from ..config import LR_SCHEDULES, TrainConfig
from ..errors import OutputError
from . import cohort, options

EXAMPLES = """\
examples:
  nsn2n denoise scan.nii.gz -o scan_denoised.nii.gz
  nsn2n denoise ct_series_dir/ -o ct_denoised.tif --threshold 0.01 --epochs 60 --save-model ct.pt
  nsn2n denoise timelapse.tif -o out.tif --axis t --device cuda
  nsn2n denoise next_scan.nii.gz -o next_denoised.nii.gz --model ct.pt
  nsn2n denoise t1_magnitude.nii.gz -o t1_denoised.nii.gz --rician   (magnitude MRI: no Rician floor)
  nsn2n denoise a.tif b.tif c.tif -o denoised/          (several inputs: -o is a folder)
  nsn2n denoise scans/*.nii.gz -o denoised/ --cluster local:2   (a cohort on dask workers)
  nsn2n mask scan.nii.gz --threshold 0.01 -o scan_mask.tif
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
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
        help="TIFF, NIfTI (.nii/.nii.gz), .npy, a DICOM series folder or OME-Zarr (.ome.zarr)",
    )
    den.add_argument(
        "-o",
        "--output",
        required=True,
        type=Path,
        help="output file (.tif/.nii.gz/.npy/.ome.zarr), or a folder for several inputs",
    )
    den.add_argument(
        "--threshold",
        type=options.threshold,
        default="auto",
        help="th of Eq. 3 on the [0, 1] scale, or 'auto': suggested from the LPF differences "
        "for the training run's planned steps (default: auto)",
    )
    den.add_argument(
        "--preset",
        default="auto",
        choices=("auto", "paper", "fast"),
        help="training defaults: paper (100 epochs, 32-channel U-Net), fast (16-channel U-Net on"
        " 64 px patches, for a CPU), auto: paper on a GPU, fast on a CPU (default); fast and"
        " auto train at least 1500 steps on short stacks",
    )
    den.add_argument("--epochs", type=int, help="training epochs (default: from --preset)")
    den.add_argument(
        "--min-steps",
        type=int,
        help="raise the epochs until training makes at least this many optimiser steps"
        " (default: from --preset; 0 turns it off)",
    )
    den.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda, mps")
    den.add_argument(
        "--axis", type=options.axis, help="slice axis: index or letter z/t (default: z / 0)"
    )
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
        type=options.lambda_rc,
        metavar="{auto,WEIGHT}",
        help="weight of L_RC; auto: the paper's 0.5 where the noise is correlated within slices"
        " (CT), else 0 (default: from --preset; paper: 0.5, fast and auto: auto)",
    )
    den.add_argument("--lambda-ic", type=float, help="weight of L_IC (default: 1.0)")
    den.add_argument("--no-mask", action="store_true", help="ablation: W_i = 1 everywhere")
    options.add_stabilize(den)
    den.add_argument(
        "--tta", action="store_true", help="average over 8 flips/rotations at inference"
    )
    den.add_argument(
        "--rician",
        nargs="?",
        const="auto",
        default=False,
        type=options.rician,
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
    den.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    cohort.add_options(den)


def training_config(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig the options ask for: the preset, then each option given."""
    overrides = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "lr_schedule": args.lr_schedule,
        "lambda_rc": args.lambda_rc,
        "lambda_ic": args.lambda_ic,
        "num_threads": args.threads,
    }
    config = TrainConfig.preset(args.preset, device=args.device)
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    if args.patch_size is not None:
        config = replace(config, patch_size=args.patch_size or None)
    if args.min_steps is not None:
        config = replace(config, min_steps=args.min_steps or None)
    elif args.epochs is not None:  # explicit epochs are trained as asked
        config = replace(config, min_steps=None)
    return replace(config, seed=args.seed, device=args.device, use_mask=not args.no_mask)


def output_paths(inputs: list[str], output: Path) -> list[Path]:
    """Where each input's result goes: ``output`` itself for one input (unless it is a folder),
    else ``output/<name>_denoised<suffix>``."""
    from ..io.registry import output_name

    if len(inputs) == 1 and not output.is_dir():
        return [output]
    if not output.is_dir():
        raise OutputError(f"with {len(inputs)} inputs, -o must be an existing folder ({output})")
    return [output / output_name(name) for name in inputs]


def run(args: argparse.Namespace) -> int:
    from ..io import check_output_path, read_volume, write_volume
    from ..method.lowpass import LowpassSettings
    from ..models.bundle import check_model_output, load_model, save_model
    from ..pipeline import ApplyRequest, RunRequest, apply
    from ..pipeline import run as run_pipeline
    from ..pipeline.progress import ProgressReporter

    if args.cluster is not None:
        return cohort.run(args)
    outputs = output_paths(args.inputs, args.output)
    for path in outputs:
        check_output_path(path, args.overwrite)
    if args.save_model is not None:
        check_model_output(args.save_model, args.overwrite)
    bundle = load_model(args.model) if args.model is not None else None
    config = training_config(args)
    for source, target in zip(args.inputs, outputs, strict=True):
        volume = read_volume(source, mmap=True)  # big stacks stay on disk (stack.PreparedStack)
        reporter = ProgressReporter(Path(source).name, quiet=args.quiet)
        if bundle is not None:
            events = apply(
                bundle,
                ApplyRequest(
                    volume.data,
                    axis=args.axis,
                    axes=volume.axes,
                    device=args.device,
                    tta=args.tta,
                    cast_output=args.keep_dtype,
                    rician=args.rician,
                ),
            )
        else:
            events = run_pipeline(
                RunRequest(
                    volume.data,
                    threshold=args.threshold,
                    config=config,
                    axis=args.axis,
                    axes=volume.axes,
                    lowpass=LowpassSettings(stabilize=args.stabilize),
                    tta=args.tta,
                    cast_output=args.keep_dtype,
                    rician=args.rician,
                )
            )
        finished = reporter.follow(events)
        sigma = finished.model.meta.get("rician_sigma") if bundle is None else None
        if sigma:
            print(f"Rician bias removed (sigma {sigma:.4g})", file=sys.stderr)
        if bundle is None and args.save_model is not None:
            save_model(finished.model, args.save_model, overwrite=True)
            print(f"model: {args.save_model}", file=sys.stderr)
        write_volume(target, volume.with_data(finished.denoised), overwrite=args.overwrite)
        print(f"denoised: {target}", file=sys.stderr)
    return 0
