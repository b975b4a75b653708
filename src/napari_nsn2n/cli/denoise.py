"""``nsn2n denoise``: train on each input and write it denoised, or apply a saved model.

Nothing is lost and nothing is silently wrong: every option, device, input and output is
checked before the first LPF (``cli.plan``), outputs are written atomically and never over a
file without ``--overwrite`` (``io.atomic``), the volume before its model, and the run reports
per input what it wrote. ``--continue-on-error`` goes on past an input that fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import tuned
from ..config import LR_SCHEDULES
from ..errors import NSN2NError
from . import cohort, options

EXAMPLES = """\
examples:
  nsn2n denoise scan.nii.gz -o scan_denoised.nii.gz
  nsn2n denoise ct_series_dir/ -o ct_denoised.tif --threshold 0.01 --epochs 60 --save-model ct.pt
  nsn2n denoise timelapse.tif -o out.tif --axis t --device cuda
  nsn2n denoise next_scan.nii.gz -o next_denoised.nii.gz --model ct.pt
  nsn2n denoise t1_magnitude.nii.gz -o t1_denoised.nii.gz --rician   (magnitude MRI: no Rician floor)
  nsn2n denoise a.tif b.tif c.tif -o denoised/          (several inputs: -o is a folder, made if missing)
  nsn2n denoise scans/*.nii.gz -o out/ --save-model models/ --continue-on-error
  nsn2n denoise scans/*.nii.gz -o denoised/ --cluster local:2   (a cohort on dask workers)
  nsn2n mask scan.nii.gz --threshold 0.01 -o scan_mask.tif
"""


def _cpu_expectation() -> str:
    steps = tuned.FAST_MIN_STEPS
    idle_min = steps * tuned.CPU_STEP_SECONDS_IDLE / 60
    busy_min = steps * tuned.CPU_STEP_SECONDS_BUSY / 60
    return (
        f"How long: training dominates. On a CPU the default makes at least {steps} optimiser "
        f"steps, measured at {tuned.CPU_STEP_SECONDS_IDLE:g} s each on 2 idle cores (about "
        f"{idle_min:.0f} min for a 48 x 256 x 256 stack, LPF and inference included) and "
        f"{tuned.CPU_STEP_SECONDS_BUSY:g} s each while other jobs used the cores (about "
        f"{busy_min:.0f} min); larger stacks add about 0.1 s of LPF per 256 x 256 slice. "
        "--preset quick stops when the loss on held-out pixels stops improving: about "
        f"{tuned.QUICK_RUN_SECONDS_IDLE / 60:.0f} min for that stack on 2 idle cores, at about the "
        "same quality on most cases (docs/performance.md). Fewer steps (--min-steps 0 --epochs N) "
        "are faster and denoise less."
    )


def add_parser(sub: argparse._SubParsersAction) -> None:
    den = sub.add_parser(
        "denoise",
        help="train on a stack and write it denoised",
        description="Train NS-N2N on each input stack and write it denoised (or apply a saved "
        "model with --model). " + _cpu_expectation(),
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
        help="output file (.tif/.nii.gz/.npy/.ome.zarr), or a folder (made if missing) for several"
        " inputs or one ending in /: NAME_denoised.SUFFIX per input",
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
        choices=("auto", "paper", "fast", "quick"),
        help="training defaults: paper (100 epochs, 32-channel U-Net), fast (16-channel U-Net on"
        " 64 px patches, for a CPU), quick (fast on 48 px patches, stopped by the held-out loss),"
        " auto: paper on a GPU, fast on a CPU (default); fast and auto train at least 1500 steps"
        " on short stacks",
    )
    den.add_argument(
        "--epochs", type=options.positive, help="training epochs (default: from --preset)"
    )
    den.add_argument(
        "--min-steps",
        type=options.off_or_positive,
        help="raise the epochs until training plans at least this many optimiser steps, and"
        " train them all unless --stop-patience is given (default: from --preset; fast: 1500;"
        " quick: 4000, ended sooner by the held-out loss; 0 turns it off)",
    )
    den.add_argument(
        "--device",
        type=options.device,
        default="auto",
        help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:N, mps (any case)",
    )
    den.add_argument(
        "--axis", type=options.axis, help="slice axis: index or letter z/t (default: z / 0)"
    )
    options.add_reader_options(den)
    den.add_argument(
        "--save-model",
        help="write the trained model here (.pt); with several inputs a folder (NAME.pt each)",
    )
    den.add_argument("--model", type=Path, help="apply this saved model instead of training")
    den.add_argument(
        "--overwrite", action="store_true", help="replace existing outputs (never an input)"
    )
    den.add_argument(
        "--continue-on-error",
        action="store_true",
        help="with several inputs: report an input that cannot be denoised and go on with the"
        " others (the exit code is 1 if any failed)",
    )
    den.add_argument("--seed", type=options.seed, default=0, help="random seed (default: 0)")
    den.add_argument("--batch-size", type=options.positive, help="pairs per step")
    den.add_argument(
        "--patch-size",
        type=options.patch_size,
        help="training patch side in pixels, >= 16 (0: whole slices)",
    )
    den.add_argument(
        "--lr", type=options.learning_rate, help="initial learning rate (default: 1e-3)"
    )
    den.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        help="step: halve the lr every fifth of the epochs (the paper's); late: hold it for"
        " half the run, then halve every tenth; plateau: halve it when the held-out loss stops"
        " falling, 3 times, then stop (needs --holdout and --stop-patience) (default: from"
        " --preset; fast and auto on a CPU: late; quick: plateau, or late for a fixed length)",
    )
    den.add_argument(
        "--lambda-rc",
        type=options.lambda_rc,
        metavar="{auto,WEIGHT}",
        help="weight of L_RC; auto: the paper's 0.5 where the noise is correlated within slices"
        " (CT), else 0 (default: from --preset; paper: 0.5, fast and auto: auto)",
    )
    den.add_argument("--lambda-ic", type=options.weight, help="weight of L_IC (default: 1.0)")
    den.add_argument(
        "--lambda-self",
        type=options.weight,
        help="weight of L_self, which holds the unmatched pixels (W = 0) to their own slice so"
        " that structure changing between slices is kept (default: 0, the paper)",
    )
    den.add_argument(
        "--holdout",
        type=options.holdout_fraction,
        metavar="FRACTION",
        help="leave this fraction of every slice (8 px blocks) out of the loss and show the"
        " NS-N2N loss on it as training goes; 0: off, and no stop rule (default: from --preset;"
        " quick: 0.05, the others: 0)",
    )
    den.add_argument(
        "--stop-patience",
        type=options.off_or_positive,
        metavar="N",
        help="stop after N held-out measurements (every 50 steps) without a new best and keep"
        " the best weights; 0: train the whole planned length (default: from --preset; quick: 3,"
        " the others: off)",
    )
    den.add_argument("--no-mask", action="store_true", help="ablation: W_i = 1 everywhere")
    options.add_stabilize(den)
    den.add_argument(
        "--tta", action="store_true", help="average over 8 flips/rotations at inference"
    )
    den.add_argument(
        "--keep-structure",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="put back what the network removed where the neighbouring slices agree it is "
        "structure (small lesions; default: on); --no-keep-structure writes the network's "
        "output as it is",
    )
    den.add_argument(
        "--residual",
        action="store_true",
        help="also write NAME_residual.SUFFIX beside each output: noisy - denoised (float32, the "
        "input's units), what was removed; structure in it was smoothed away",
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
    den.add_argument(
        "--threads",
        type=options.positive,
        help="CPU threads for torch (default and at most: the available cores)",
    )
    den.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    cohort.add_options(den)


def run(args: argparse.Namespace) -> int:
    from ..device import select_device, set_torch_threads
    from ..models.bundle import load_model
    from ..pipeline.request import check_network_fits
    from ..stack import check_stack
    from .job import Report, denoise_one
    from .plan import check_plan, create_folders, inspect_inputs, plan_jobs

    if args.stop_patience and not options.held_out_fraction(args):
        raise options.UsageError("--stop-patience needs --holdout (the loss it watches)")
    if args.cluster is not None:
        if args.residual:
            raise options.UsageError("--residual is not available with --cluster")
        return cohort.run(args)
    report = args.outcome = Report()
    if args.model is not None and args.save_model is not None:
        raise options.UsageError("--save-model cannot go with --model (that model is not trained)")
    select_device(args.device)  # an unavailable device fails now, not after the LPF
    threads = set_torch_threads(args.threads)
    if args.threads is not None and threads < args.threads:
        print(
            f"nsn2n: --threads {args.threads}: using {threads}, the cores available",
            file=sys.stderr,
        )
    config = options.training_config(args)
    jobs = plan_jobs(args.inputs, args.output, args.save_model, residual=args.residual)
    check_plan(jobs, args.overwrite)
    bundle = load_model(args.model) if args.model is not None else None
    depth = bundle.config.depth if bundle is not None else config.depth

    def check(volume) -> None:
        axes = volume.named_axes
        shape = volume.data.shape
        slice_axis = check_stack(volume.data, args.axis, axes)
        plane = tuple(n for a, n in enumerate(shape) if a != slice_axis)[-2:]
        check_network_fits(plane, depth)
        if bundle is None:
            check_network_fits(config.patch_shape(*plane), depth, "training patches")

    read_options = {"series": args.series, "allow_gaps": args.allow_gaps}
    inspect_inputs(jobs, check, read_options, args.axes)
    bad = [job for job in jobs if job.problem]
    if bad and (not args.continue_on_error or len(bad) == len(jobs)):
        if len(jobs) == 1:
            raise NSN2NError(bad[0].problem)
        reasons = "; ".join(job.problem for job in bad[:3])
        more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
        hint = "" if args.continue_on_error else " (--continue-on-error denoises the others)"
        raise NSN2NError(
            f"{len(bad)} of {len(jobs)} inputs cannot be denoised: {reasons}{more}; nothing was "
            f"done{hint}"
        )
    for job in bad:
        print(f"nsn2n: skipped {job.source}: {job.problem}", file=sys.stderr)
        report.failed.append(job.source)
    for folder in create_folders([job for job in jobs if not job.problem]):
        print(f"nsn2n: created folder {folder}", file=sys.stderr)
    for job in jobs:
        if job.problem:
            continue
        try:
            denoise_one(job, args, config, bundle, read_options, report)
        except NSN2NError as exc:
            if not args.continue_on_error:
                raise
            print(f"nsn2n: failed {job.source}: {exc}", file=sys.stderr)
            report.failed.append(job.source)
    if len(jobs) > 1:
        done = len(jobs) - len(report.failed)
        failed = f"; failed: {', '.join(report.failed)}" if report.failed else ""
        print(f"nsn2n: {done} of {len(jobs)} inputs denoised{failed}", file=sys.stderr)
    return 1 if report.failed else 0
