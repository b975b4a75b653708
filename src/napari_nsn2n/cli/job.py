"""One input of ``nsn2n denoise``: read it, train on it (or apply a model), write the volume,
then its model, and record what was written (``Report``) for the messages after an error or an
interrupt."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import TrainConfig
from ..errors import NSN2NError
from .plan import OVERWRITE, Job

if TYPE_CHECKING:
    from ..models.bundle import ModelBundle


@dataclass
class Report:
    """What a run wrote, input by input, for the messages after an error or an interrupt."""

    written: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"written: {', '.join(self.written)}" if self.written else "nothing written"


def denoise_one(
    job: Job,
    args: argparse.Namespace,
    config: TrainConfig,
    bundle: ModelBundle | None,
    read_options: dict[str, Any],
    report: Report,
) -> None:
    """Train on (or apply ``bundle`` to) one input, then write the volume and the model."""
    from ..io import write_volume
    from ..models.bundle import save_model
    from ..pipeline import residual
    from ..pipeline.progress import ProgressReporter
    from ..pipeline.volume import volume_events
    from .plan import read_input

    volume = job.volume or read_input(job.source, read_options, args.axes)
    job.volume = None
    label = Path(job.source.rstrip("/")).name
    for note in volume.notes:
        print(f"{label}: note: {note}", file=sys.stderr)
    reporter = ProgressReporter(label, quiet=args.quiet)
    events = volume_events(
        volume,
        bundle,
        config=config,
        threshold=args.threshold,
        axis=args.axis,
        device=args.device,
        tta=args.tta,
        cast_output=args.keep_dtype,
        rician=args.rician,
        stabilize=args.stabilize,
        keep_structure=args.keep_structure,
    )
    finished = reporter.follow(events)
    if finished is None:
        raise NSN2NError(f"{job.source}: the run ended without a result")
    sigma = finished.model.meta.get("rician_sigma") if bundle is None else None
    if sigma:
        print(f"{label}: Rician bias removed (sigma {sigma:.4g})", file=sys.stderr)
    write_volume(job.output, volume.with_data(finished.denoised), None, args.overwrite, OVERWRITE)
    report.written.append(str(job.output))
    print(f"denoised: {job.output}", file=sys.stderr)
    if job.residual is not None:
        removed = volume.with_data(residual(volume.data, finished.denoised))
        write_volume(job.residual, removed, None, args.overwrite, OVERWRITE)
        report.written.append(str(job.residual))
        print(f"residual: {job.residual}", file=sys.stderr)
    if bundle is None and job.model is not None:
        save_model(finished.model, job.model, args.overwrite, OVERWRITE)
        report.written.append(str(job.model))
        print(f"model: {job.model}", file=sys.stderr)
