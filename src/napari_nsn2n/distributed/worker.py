"""What one worker does for one volume: read, train (or apply a model), write atomically, and
report progress on a dask event topic. Every error becomes a "failed" record, so one bad
volume never stops the others."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..config import TrainConfig
from ..errors import NSN2NError
from ..events import Event, Finished, StageProgress, TrainingStarted, TrainStep
from .events import PROGRESS_TOPIC
from .report import DONE, FAILED, VolumeRecord

REPORT_EVERY_S = 1.0  # a running volume's progress reaches the client at most this often
# the share of a volume's time each stage stands for in its progress fraction
_STAGE_SPAN = {
    "lowpass": (0.0, 0.1),
    "training": (0.1, 0.9),
    "inference": (0.9, 0.98),
    "structure": (0.98, 1.0),
}


@dataclass(frozen=True)
class VolumeJob:
    """One volume's task. ``config``: a TrainConfig, a callable that makes one on the worker
    (so "auto" presets see the worker's device), or None (``TrainConfig.preset("auto")``
    there). ``model``: apply this trained :class:`~napari_nsn2n.models.ModelBundle` instead of
    training. Other fields as in ``nsn2n denoise``."""

    input: str
    output: str
    threshold: float | str = "auto"
    config: TrainConfig | Callable[[], TrainConfig] | None = None
    axis: int | str | None = None
    tta: bool = False
    rician: bool | float | str = False
    stabilize: str = "auto"
    keep_structure: bool = True
    keep_dtype: bool = False
    overwrite: bool = False
    device: str = "auto"
    model: Any = None


def this_worker() -> Any:
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError):
        return None


class _Reporter:
    """Sends ``{"input", "worker", "fraction"}`` on ``PROGRESS_TOPIC``, at most every
    ``REPORT_EVERY_S`` (always the first time)."""

    def __init__(self, source: str, worker: Any) -> None:
        self.source, self.worker, self.last = source, worker, -float("inf")
        self.address = "" if worker is None else str(worker.address)

    def __call__(self, fraction: float, force: bool = False) -> None:
        now = time.monotonic()
        if self.worker is None or (not force and now - self.last < REPORT_EVERY_S):
            return
        self.last = now
        message = {"input": self.source, "worker": self.address, "fraction": fraction}
        self.worker.log_event(PROGRESS_TOPIC, message)

    def follow(self, event: Event) -> None:
        if isinstance(event, StageProgress) and event.stage in _STAGE_SPAN:
            low, high = _STAGE_SPAN[event.stage]
            self(low + (high - low) * event.done / max(event.total, 1))
        elif isinstance(event, TrainStep):
            low, high = _STAGE_SPAN["training"]
            self(low + (high - low) * event.step / max(event.total_steps, 1))


def torch_threads(worker: Any, device: str) -> int | None:
    """Torch threads for one task: a worker runs one task per thread on CPUs (so one thread
    each, never more threads than cores), and one task per GPU, which gets all its threads."""
    if worker is None:
        return None
    return int(worker.state.nthreads) if device.startswith(("cuda", "mps")) else 1


def worker_device(choice: str, worker: Any) -> str:
    """One CUDA device per worker on a multi-GPU machine: ``cuda:<worker name mod count>``
    for a LocalCluster's numbered workers; the choice unchanged elsewhere."""
    import torch

    if choice not in ("auto", "cuda") or worker is None or torch.cuda.device_count() < 2:
        return choice
    name = str(worker.name)
    return f"cuda:{int(name) % torch.cuda.device_count()}" if name.isdigit() else choice


def denoise_volume(job: VolumeJob) -> VolumeRecord:
    """Run ``job`` here (on a dask worker, or in this process when called directly)."""
    started = time.perf_counter()
    worker = this_worker()
    report = _Reporter(job.input, worker)
    report(0.0, force=True)
    where = "" if worker is None else str(worker.address)
    try:
        finished, device = _denoise(job, worker, report)
    except Exception as exc:  # one line in the report; the cohort goes on
        reason = str(exc) if isinstance(exc, NSN2NError) else f"{type(exc).__name__}: {exc}"
        reason = " ".join(reason.split())[:300]
        seconds = round(time.perf_counter() - started, 2)
        return VolumeRecord(
            job.input, job.output, FAILED, seconds=seconds, worker=where, error=reason
        )
    meta = finished.model.meta if job.model is None else {}
    return VolumeRecord(
        input=job.input,
        output=job.output,
        status=DONE,
        threshold=finished.model.threshold,
        steps=meta.get("steps"),
        seconds=round(time.perf_counter() - started, 2),
        device=device,
        worker=where,
    )


def _denoise(job: VolumeJob, worker: Any, report: _Reporter) -> tuple[Finished, str]:
    import torch

    from ..device import select_device
    from ..io import check_output_path, read_volume, write_volume
    from ..pipeline.volume import volume_events

    check_output_path(job.output, job.overwrite)
    volume = read_volume(job.input, mmap=True)
    device = worker_device(job.device, worker)
    threads = torch_threads(worker, str(select_device(device)))
    config = None
    if job.model is not None:
        if threads:
            torch.set_num_threads(threads)
    else:
        config = job.config() if callable(job.config) else job.config
        config = config or TrainConfig.preset("auto", device=device)
        config = replace(config, device=device, num_threads=config.num_threads or threads)
    events = volume_events(
        volume,
        job.model,
        config=config,
        threshold=job.threshold,
        axis=job.axis,
        device=device,
        tta=job.tta,
        cast_output=job.keep_dtype,
        rician=job.rician,
        stabilize=job.stabilize,
        keep_structure=job.keep_structure,
    )
    finished, used = None, str(select_device(device))
    for event in events:
        report.follow(event)
        if isinstance(event, TrainingStarted):
            used = event.device
        elif isinstance(event, Finished):
            finished = event
    if finished is None:
        raise NSN2NError(f"{job.input}: the run ended without a result")
    write_volume(job.output, volume.with_data(finished.denoised), overwrite=job.overwrite)
    report(1.0, force=True)
    return finished, used
