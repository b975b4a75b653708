"""Cohorts: many volumes, each trained and denoised as one task on a dask.distributed worker.

:func:`denoise_many` plans the outputs (``<out_dir>/<stem>_denoised<suffix>``; two inputs with
the same output name are refused before any work), skips volumes whose output exists (outputs
are written atomically, so an existing one is complete: re-running a command resumes it and
retries what failed), submits one task per remaining volume (asking for one ``GPU`` resource
where every worker has one) and yields :mod:`.events` as volumes start, progress and end.
After each volume the report (``nsn2n-report.csv``) is rewritten. A failing volume (corrupt
file, constant stack...) is a "failed" row and the others go on. A worker that dies mid-task
leaves only a hidden temporary file; dask.distributed runs the task again on another worker
(``distributed.scheduler.allowed-failures`` times), and a volume that kills workers every time
ends as a failed row naming the lost worker.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..errors import OutputError
from .events import (
    PROGRESS_TOPIC,
    CohortEvent,
    CohortFinished,
    CohortProgress,
    CohortStarted,
    VolumeEnded,
    VolumeStarted,
)
from .report import DONE, FAILED, REPORT_NAME, SKIPPED, VolumeRecord, read_report, write_report
from .worker import VolumeJob, denoise_volume

POLL_S = 0.5  # how often progress is reported while no volume ends


@dataclass(frozen=True)
class CohortPlan:
    """The volumes to run, the records of those skipped, and where the report goes."""

    jobs: tuple[VolumeJob, ...]
    skipped: tuple[VolumeRecord, ...]
    report: Path


def plan_cohort(
    inputs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    job: VolumeJob,
    overwrite: bool = False,
    report: str | os.PathLike | None = None,
) -> CohortPlan:
    """Output paths for ``inputs`` (checked before any work), the jobs still to run and the
    volumes skipped because their output exists; ``job`` holds the settings every volume
    shares (its input and output are replaced)."""
    from ..io import check_output_path
    from ..io.registry import output_name

    out = Path(out_dir).expanduser()
    if not out.is_dir():
        raise OutputError(f"the output folder {out} does not exist")
    report_path = Path(report) if report is not None else out / REPORT_NAME
    earlier = read_report(report_path)
    seen: dict[Path, str] = {}
    jobs, skipped = [], []
    for given in inputs:
        source = Path(given).expanduser().absolute()  # workers may start in another folder
        target = out.absolute() / output_name(source)
        if target in seen:
            raise OutputError(
                f"{source} and {seen[target]} would both be written to {target}; rename one"
            )
        seen[target] = str(source)
        if target.exists() and not overwrite:
            record = earlier.get(str(source))  # an earlier run's row, when it made the output
            if record is None or record.status != DONE:
                record = VolumeRecord(str(source), str(target), SKIPPED, error="output exists")
            skipped.append(record)
            continue
        check_output_path(target, overwrite=True)
        jobs.append(replace(job, input=str(source), output=str(target), overwrite=overwrite))
    return CohortPlan(tuple(jobs), tuple(skipped), report_path)


def gpu_resources(client: Any) -> dict[str, float] | None:
    """``{"GPU": 1}`` when every worker declares a GPU resource, else None (waiting for the
    first worker when none has joined yet: batch jobs may still be queued)."""
    if not client.scheduler_info().get("workers"):
        client.wait_for_workers(1)
    workers = client.scheduler_info().get("workers", {}).values()
    has_gpu = [w.get("resources", {}).get("GPU", 0) >= 1 for w in workers]
    return {"GPU": 1} if has_gpu and all(has_gpu) else None


def denoise_many(
    inputs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    client: Any = None,
    *,
    threshold: float | str = "auto",
    config: TrainConfig | None = None,
    overwrite: bool = False,
    report: str | os.PathLike | None = None,
    resources: dict[str, float] | None = None,
    **options: Any,
) -> Iterator[CohortEvent]:
    """Denoise every input into ``out_dir`` on the workers of ``client`` and yield the events.

    ``client``: a ``distributed.Client``, a cluster spec ("local:4", "tcp://host:8786",
    "slurm:8"; started and closed here) or None (a LocalCluster on this machine).
    ``config`` / ``threshold``: every volume's training (default ``TrainConfig.preset("auto")``
    on the worker, so GPU workers get the paper's preset). ``options``: the other
    :class:`~.worker.VolumeJob` fields (``axis``, ``tta``, ``rician``, ``stabilize``,
    ``keep_dtype``, ``model`` for a trained model to apply instead of training).
    ``resources``: what each task asks of a worker (default ``{"GPU": 1}`` where every worker
    has a GPU). The last event is :class:`CohortFinished`; its ``failed`` count > 0 means some
    volumes failed (their rows in the report say why).
    """
    job = VolumeJob(input="", output="", threshold=threshold, config=config, **options)
    plan = plan_cohort(inputs, out_dir, job, overwrite, report)
    if client is None or isinstance(client, str):
        from .cluster import open_client

        with open_client(client or "local") as owned:
            yield from _run(plan, owned, resources)
        return
    yield from _run(plan, client, resources)


def _run(
    plan: CohortPlan, client: Any, resources: dict[str, float] | None
) -> Iterator[CohortEvent]:
    started = time.perf_counter()
    records: dict[str, VolumeRecord] = {r.input: r for r in plan.skipped}
    order = [r.input for r in plan.skipped] + [j.input for j in plan.jobs]
    if resources is None and plan.jobs:
        resources = gpu_resources(client)
    workers = len(client.scheduler_info().get("workers", {}))
    yield CohortStarted(len(order), len(plan.jobs), len(plan.skipped), workers, str(plan.report))
    messages: queue.Queue = queue.Queue()
    client.subscribe_topic(PROGRESS_TOPIC, lambda event: messages.put(event[1]))
    futures = {
        client.submit(
            denoise_volume,
            job,
            key=f"nsn2n-volume-{k}-{Path(job.input).name}",
            pure=False,
            resources=resources,
        ): job
        for k, job in enumerate(plan.jobs)
    }
    running: dict[str, float] = {}  # input -> fraction done
    pending = set(futures)
    counts = {DONE: 0, FAILED: 0}
    try:
        while pending:
            finished = {f for f in pending if f.done()}
            if not finished:
                time.sleep(POLL_S)
            pending -= finished
            while not messages.empty():
                message = messages.get()
                source = message["input"]
                if source in records:
                    continue
                if source not in running:
                    yield VolumeStarted(source, message["worker"])
                running[source] = float(message["fraction"])
            for future in finished:
                record = _record_of(future, futures[future])
                records[record.input] = record
                running.pop(record.input, None)
                counts[DONE if record.status == DONE else FAILED] += 1
                write_report(plan.report, [records[i] for i in order if i in records])
                yield VolumeEnded(record)
            yield _progress(counts, running, len(plan.jobs), started)
    finally:
        client.unsubscribe_topic(PROGRESS_TOPIC)
        for future in pending:
            future.cancel()
    write_report(plan.report, [records[i] for i in order if i in records])
    yield CohortFinished(
        done=counts[DONE],
        failed=counts[FAILED],
        skipped=len(plan.skipped),
        elapsed_s=time.perf_counter() - started,
        report=str(plan.report),
    )


def _record_of(future: Any, job: VolumeJob) -> VolumeRecord:
    """The task's record, or a failed one for an exception the task did not catch (a worker
    that died every time it ran the volume: ``KilledWorker``)."""
    if future.status == "finished":
        return future.result()
    exc = future.exception()
    reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    if type(exc).__name__ == "KilledWorker":
        reason = f"the worker running it died every time ({reason})"
    return VolumeRecord(job.input, job.output, FAILED, error=reason)


def _progress(
    counts: dict[str, int], running: dict[str, float], total: int, started: float
) -> CohortProgress:
    """Counts and an ETA from the work done so far (ended volumes plus the running ones'
    fractions) at the rate measured since the start."""
    elapsed = time.perf_counter() - started
    ended = counts[DONE] + counts[FAILED]
    work = ended + sum(running.values())
    eta = None if work <= 0 else elapsed / work * max(total - work, 0.0)
    return CohortProgress(
        done=counts[DONE],
        failed=counts[FAILED],
        running=len(running),
        waiting=total - ended - len(running),
        total=total,
        elapsed_s=elapsed,
        eta_s=eta,
    )
