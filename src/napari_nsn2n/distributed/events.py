"""Progress events of a cohort run (what :func:`~.cohort.denoise_many` yields): plain numbers
and strings, so a CLI bar, a log or a notebook can show them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .report import VolumeRecord

PROGRESS_TOPIC = "nsn2n-volume-progress"  # the dask event topic a volume's task reports on


@dataclass(frozen=True)
class CohortStarted:
    """``total`` volumes: ``to_run`` submitted, ``skipped`` with their output already there."""

    total: int
    to_run: int
    skipped: int
    workers: int
    report: str


@dataclass(frozen=True)
class VolumeStarted:
    input: str
    worker: str


@dataclass(frozen=True)
class VolumeEnded:
    """A volume is done or failed (``record.status``; ``record.error`` says why)."""

    record: VolumeRecord


@dataclass(frozen=True)
class CohortProgress:
    """Volumes done / failed / running / waiting of ``total`` submitted, and the ETA (None
    until some work is done) from the rate so far."""

    done: int
    failed: int
    running: int
    waiting: int
    total: int
    elapsed_s: float
    eta_s: float | None


@dataclass(frozen=True)
class CohortFinished:
    done: int
    failed: int
    skipped: int
    elapsed_s: float
    report: str


CohortEvent = Union[  # noqa: UP007
    CohortStarted, VolumeStarted, VolumeEnded, CohortProgress, CohortFinished
]
