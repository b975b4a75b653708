"""The cohort report: one CSV row per volume, rewritten atomically after each volume ends."""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path

REPORT_NAME = "nsn2n-report.csv"
DONE, FAILED, SKIPPED = "done", "failed", "skipped"


@dataclass(frozen=True)
class VolumeRecord:
    """What happened to one volume: ``status`` is "done", "failed" or "skipped" (its output
    existed already); ``threshold`` and ``steps`` are the run's; ``device`` and ``worker`` where
    it ran; ``error`` one line for a failure."""

    input: str
    output: str
    status: str
    threshold: float | None = None
    steps: int | None = None
    seconds: float | None = None
    device: str = ""
    worker: str = ""
    error: str = ""


COLUMNS = tuple(f.name for f in fields(VolumeRecord))


def _number(text: str, kind: type) -> float | int | None:
    return None if text in ("", "None") else kind(float(text)) if kind is int else kind(text)


def read_report(path: str | os.PathLike) -> dict[str, VolumeRecord]:
    """The rows of an earlier report by input path (empty when there is none or it is unreadable)."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, csv.Error):
        return {}
    records = {}
    for row in rows:
        try:
            record = VolumeRecord(
                input=row["input"],
                output=row["output"],
                status=row["status"],
                threshold=_number(row.get("threshold", ""), float),
                steps=_number(row.get("steps", ""), int),
                seconds=_number(row.get("seconds", ""), float),
                device=row.get("device", ""),
                worker=row.get("worker", ""),
                error=row.get("error", ""),
            )
        except (KeyError, ValueError, TypeError):
            continue
        records[record.input] = record
    return records


def write_report(path: str | os.PathLike, records: list[VolumeRecord]) -> Path:
    """Write ``records`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            for record in records:
                writer.writerow(asdict(record))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
