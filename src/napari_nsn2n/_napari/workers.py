"""The napari ``thread_worker`` glue: each worker runs one engine generator itself (no nested
thread) and yields only the engine's plain events (numbers, CPU numpy arrays, a CPU ModelBundle).

Nothing here touches a layer or a widget; the panels' main-thread slots do that. Layer data is
passed as it is: a memmap, zarr or dask layer is read slice by slice by the engine.

Errors: ``ignore_errors`` stops superqt from re-raising a worker's exception in a main-thread
slot (outside napari's exception hooks, e.g. in a script, PyQt aborts the process on that); the
panels report it once through :func:`report_error` instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
from napari.qt.threading import thread_worker
from napari.utils.notifications import notification_manager, show_error

from ..control import RunControl
from ..errors import NSN2NError
from ..events import Event, StageProgress, TrainStep
from ..method.lowpass import LowpassSettings
from ..models import ModelBundle
from ..pipeline import ApplyRequest, RunRequest, apply, lowpass_events, run
from ..stack import PreparedStack

PROGRESS_INTERVAL_S = 0.1  # at most ~10 progress events of a kind per second reach the GUI


def report_error(exc: BaseException) -> None:
    """One notification for a worker's exception: the one-line message of an NS-N2N error (a bad
    input, settings), napari's error report with its traceback for anything else."""
    if isinstance(exc, NSN2NError):
        show_error(f"NS-N2N: {exc}")
    else:
        notification_manager.receive_error(type(exc), exc, exc.__traceback__)


class PreviewIndex:
    """The slice to preview: an int the main thread sets and the worker reads (an attribute read
    or write of an int is atomic in CPython, so no lock is needed)."""

    def __init__(self, index: int = 0) -> None:
        self.index = int(index)

    def __call__(self) -> int:
        return self.index


@thread_worker(ignore_errors=True)
def lowpass_worker(data: np.ndarray, axis: int, settings: LowpassSettings, control: RunControl):
    """Yield StageProgress (per slice, at most ten a second), then the PairDifferences (cancel
    with ``control.stop()``)."""
    prepared = PreparedStack.from_array(data, axis)
    yield from throttle_progress(lowpass_events(prepared, settings, control=control))


def _is_last(event: TrainStep | StageProgress) -> bool:
    if isinstance(event, TrainStep):
        return event.step == event.total_steps
    return event.done == event.total


def throttle_progress(
    events: Iterator[Event],
    interval_s: float = PROGRESS_INTERVAL_S,
    clock: Callable = time.monotonic,
) -> Iterator[Event]:
    """Pass every event through except TrainStep and StageProgress, each forwarded at most every
    ``interval_s`` (per kind) and always when it is the last of its run or stage. The latest
    held-back one is flushed before any other event, so the GUI sees the last step of an epoch
    and the state just before a stage ends; every forwarded event costs a main-thread slot
    (a repaint of the widget's bar and of napari's activity dock)."""
    last: dict[type, float] = {}
    held: TrainStep | StageProgress | None = None
    for event in events:
        if isinstance(event, TrainStep | StageProgress):
            kind = type(event)
            if held is not None and type(held) is not kind:
                yield held
                held = None
            now = clock()
            if now - last.get(kind, -float("inf")) >= interval_s or _is_last(event):
                last[kind], held = now, None
                yield event
            else:
                held = event
            continue
        if held is not None:
            yield held
            held = None
        yield event
    if held is not None:
        yield held


@thread_worker(ignore_errors=True)
def train_worker(request: RunRequest, control: RunControl, abort: threading.Event):
    """The whole engine run in this worker thread. ``control.stop()`` ends training early (the
    engine still denoises and yields Finished). ``abort`` (set when the widget or viewer closes,
    together with ``control.resume()``) ends the run at the engine's next event, i.e. after at
    most one more training step, without the final inference. Either way the engine generator is
    closed here, in a finally, so its Trainer frees device memory in the thread that owns it."""
    events = run(request, control)

    def until_aborted():
        for event in events:
            if abort.is_set():
                return
            yield event

    try:
        yield from throttle_progress(until_aborted())
    finally:
        events.close()


@thread_worker(ignore_errors=True)
def apply_worker(bundle: ModelBundle, request: ApplyRequest, control: RunControl):
    """``pipeline.apply``: StageProgress (per batch, at most ten a second), then Finished
    (nothing after a stop)."""
    events = apply(bundle, request, control)
    try:
        yield from throttle_progress(events)
    finally:
        events.close()


@thread_worker(ignore_errors=True)
def export_worker(bundle: ModelBundle, path, info):
    """Write ``bundle`` as a bioimage.io package (``models.export_bioimageio``: TorchScript,
    test tensors and bioimageio.core's model test take seconds); returns the written path."""
    from ..models import export_bioimageio

    return export_bioimageio(bundle, path, info, overwrite=True)
