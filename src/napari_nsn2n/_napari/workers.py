"""The napari ``thread_worker`` glue: each worker runs one engine generator itself (no nested
thread) and yields only the engine's plain events (numbers, CPU numpy arrays, a CPU ModelBundle).

Nothing here touches a layer or a widget; the dock widget's main-thread slots do that. Layer data
is passed as it is: a memmap, zarr or dask layer is read slice by slice by the engine, never whole
unless it fits in memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
from napari.qt.threading import thread_worker

from ..config import TrainConfig
from ..control import RunControl
from ..events import TrainStep
from ..method.lowpass import LowpassSettings
from ..method.masks import PairDifferences
from ..models import ModelBundle
from ..pipeline import apply_model, lowpass_events, run
from ..stack import PreparedStack

STEP_INTERVAL_S = 0.1  # at most ~10 TrainStep events per second reach the GUI


class PreviewIndex:
    """The slice to preview: an int the main thread sets and the worker reads (an attribute read
    or write of an int is atomic in CPython, so no lock is needed)."""

    def __init__(self, index: int = 0) -> None:
        self.index = int(index)

    def __call__(self) -> int:
        return self.index


@thread_worker
def lowpass_worker(data: np.ndarray, axis: int, settings: LowpassSettings, control: RunControl):
    """Yield StageProgress per slice, then the PairDifferences (cancel with ``control.stop()``)."""
    prepared = PreparedStack.from_array(data, axis)
    yield from lowpass_events(prepared, settings, control=control)


def throttle_steps(events, interval_s: float = STEP_INTERVAL_S, clock: Callable = time.monotonic):
    """Pass every event through except TrainStep, which is forwarded at most every
    ``interval_s``; the latest held-back step is flushed before any other event so the GUI
    always sees the last step of an epoch and of the run."""
    last = -float("inf")
    held = None
    for event in events:
        if isinstance(event, TrainStep):
            now = clock()
            if now - last >= interval_s or event.step == event.total_steps:
                last, held = now, None
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


@thread_worker
def train_worker(
    data: np.ndarray,
    threshold: float,
    config: TrainConfig,
    axis: int,
    differences: PairDifferences | None,
    lowpass: LowpassSettings,
    control: RunControl,
    preview_index: PreviewIndex,
    preview_every: int,
    abort: threading.Event,
    tta: bool = False,
    rician: bool = False,
):
    """The whole engine run in this worker thread. ``control.stop()`` ends training early (the
    engine still denoises and yields Finished). ``abort`` (set when the widget or viewer closes,
    together with ``control.resume()``) ends the run at the engine's next event, i.e. after at
    most one more training step, without the final inference. Either way the engine generator is
    closed here, in a finally, so its Trainer frees device memory in the thread that owns it."""
    events = run(
        data,
        threshold=threshold,
        config=config,
        axis=axis,
        lowpass=lowpass,
        differences=differences,
        control=control,
        preview_index=preview_index,
        preview_every=preview_every,
        tta=tta,
        rician=rician,
    )

    def until_aborted():
        for event in events:
            if abort.is_set():
                return
            yield event

    try:
        yield from throttle_steps(until_aborted())
    finally:
        events.close()


@thread_worker
def apply_worker(
    bundle: ModelBundle,
    data: np.ndarray,
    axis: int,
    device: str,
    tta: bool = False,
    rician: bool = False,
) -> np.ndarray:
    return apply_model(bundle, data, axis=axis, device=device, tta=tta, rician=rician)
