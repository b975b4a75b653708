"""``nsn2n denoise ... --cluster SPEC``: the same command on a dask.distributed cluster.

Several inputs (or ``-o`` a folder: a name without a format's suffix) are a cohort: one task per volume (``distributed.cohort``),
a bar of volumes done / failed / running with an ETA, a CSV report in the output folder (or
``--report``), and exit code 1 when any volume failed. Re-running the same command skips the
volumes whose output exists and retries the failed ones. One input written to ``.ome.zarr`` is
one huge stack: trained here (or ``--model``), then denoised region by region on the workers
(``distributed.blocks``).
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path
from typing import IO, Any

from ..errors import NSN2NError
from . import options


def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("on a dask cluster (docs/scaling.md)")
    group.add_argument(
        "--cluster",
        metavar="SPEC",
        help="run on dask.distributed: local[:N] (N worker processes here), tcp://HOST:PORT "
        "(a running scheduler), slurm[:N] / pbs[:N] / lsf[:N] / sge[:N] (N batch jobs)",
    )
    group.add_argument(
        "--cluster-config",
        type=Path,
        metavar="FILE",
        help="YAML settings of the cluster (dask-jobqueue: cores, memory, walltime, queue, "
        "gpus...; LocalCluster keywords for local)",
    )
    group.add_argument(
        "--report", type=Path, help="cohort report CSV (default: OUTPUT/nsn2n-report.csv)"
    )
    group.add_argument(
        "--connect-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds to wait for a tcp:// scheduler before giving up (default: 10)",
    )
    group.add_argument(
        "--slab", type=options.positive, help="huge stack: slices per task (default: 8)"
    )
    group.add_argument(
        "--tile",
        type=options.positive,
        help="huge stack: in-plane tile side per task, with overlap (default: whole slices "
        "up to 2048 x 2048)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the cohort or the chunked inference that ``args`` ask for; the exit code."""
    from ..distributed import open_client

    if args.save_model is not None and (len(args.inputs) > 1 or args.output.is_dir()):
        raise NSN2NError("--save-model keeps one model: with --cluster give one input")
    with open_client(args.cluster, args.cluster_config, args.connect_timeout) as client:
        if len(args.inputs) == 1 and _names_a_file(args.output):
            return run_blocks(args, client)
        return run_cohort(args, client)


def _names_a_file(output: Path) -> bool:
    """``-o`` with a format's suffix names one output; anything else is a cohort's folder."""
    from ..io.registry import format_for

    return format_for(output) is not None and not (
        output.is_dir() and not format_for(output).folder
    )


def run_cohort(args: argparse.Namespace, client: Any) -> int:
    from ..distributed import denoise_many
    from ..models.bundle import load_model

    args.output.mkdir(parents=True, exist_ok=True)
    events = denoise_many(
        args.inputs,
        args.output,
        client,
        threshold=args.threshold,
        config=partial(options.training_config, args),  # made on the worker: "auto" sees its device
        overwrite=args.overwrite,
        report=args.report,
        axis=args.axis,
        tta=args.tta,
        rician=args.rician,
        stabilize=args.stabilize,
        keep_structure=args.keep_structure,
        keep_dtype=args.keep_dtype,
        device=args.device,
        model=None if args.model is None else load_model(args.model),
    )
    finished = CohortBar(quiet=args.quiet).follow(events)
    return 1 if finished is None or finished.failed else 0


class CohortBar:
    """Cohort events on stderr: a tqdm bar of volumes on a terminal, else one line per volume."""

    def __init__(self, stream: IO[str] | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.interactive = getattr(self.stream, "isatty", lambda: False)()
        self.bar: Any = None

    def say(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(f"nsn2n cohort: {text}", file=self.stream)
        else:
            print(f"nsn2n cohort: {text}", file=self.stream, flush=True)

    def follow(self, events: Any) -> Any:
        from ..distributed import CohortFinished, CohortProgress, CohortStarted, VolumeEnded

        finished = None
        try:
            for event in events:
                if isinstance(event, CohortStarted):
                    self.say(
                        f"{event.total} volumes: {event.to_run} to run, {event.skipped} with "
                        f"their output already there; {event.workers} workers"
                    )
                    if self.interactive and not self.quiet:
                        from tqdm.auto import tqdm

                        self.bar = tqdm(total=event.to_run, unit="volume", file=self.stream)
                elif isinstance(event, VolumeEnded):
                    record = event.record
                    if record.status == "failed":
                        self.say(f"FAILED {record.input}: {record.error}")
                    elif not self.quiet:
                        self.say(f"{record.status} {record.input} -> {record.output}")
                elif isinstance(event, CohortProgress) and self.bar is not None:
                    self.bar.n = event.done + event.failed
                    eta = "" if event.eta_s is None else f", ETA {event.eta_s:.0f} s"
                    self.bar.set_postfix_str(
                        f"{event.failed} failed, {event.running} running{eta}", refresh=False
                    )
                    self.bar.refresh()
                elif isinstance(event, CohortFinished):
                    finished = event
        finally:
            if self.bar is not None:
                self.bar.close()
        if finished is not None:
            print(
                f"nsn2n cohort: {finished.done} done, {finished.failed} failed, "
                f"{finished.skipped} skipped in {finished.elapsed_s:.0f} s; report: "
                f"{finished.report}",
                file=self.stream,
                flush=True,
            )
        return finished


def run_blocks(args: argparse.Namespace, client: Any) -> int:
    """One stack: train here (or load ``--model``), then denoise it region by region on the
    cluster into an OME-Zarr output."""
    from ..distributed.blocks import denoise_blocks
    from ..io import check_output_path, read_volume
    from ..method.lowpass import LowpassSettings
    from ..models.bundle import load_model, save_model
    from ..pipeline import RunRequest
    from ..pipeline import run as run_pipeline
    from ..pipeline.progress import ProgressReporter

    source = args.inputs[0]
    check_output_path(args.output, args.overwrite)
    reporter = ProgressReporter(Path(source).name, quiet=args.quiet)
    if args.model is not None:
        bundle = load_model(args.model)
    else:
        volume = read_volume(source, mmap=True)
        request = RunRequest(
            volume.data,
            threshold=args.threshold,
            config=options.training_config(args),
            axis=args.axis,
            axes=volume.named_axes,
            lowpass=LowpassSettings(stabilize=args.stabilize),
            infer=False,  # the cluster denoises it
        )
        bundle = reporter.follow(run_pipeline(request)).model
        if args.save_model is not None:
            save_model(bundle, args.save_model, overwrite=args.overwrite)
    if args.keep_structure and not args.quiet:
        print(
            f"{Path(source).name}: note: chunked inference writes the network's output; the "
            "structure step (--keep-structure) is not applied to blocks",
            file=sys.stderr,
        )
    events = denoise_blocks(
        bundle,
        source,
        args.output,
        client,
        slab=args.slab,
        tile=args.tile,
        tta=args.tta,
        overwrite=args.overwrite,
    )
    reporter.follow(events)
    print(f"denoised: {args.output}", file=sys.stderr)
    return 0
