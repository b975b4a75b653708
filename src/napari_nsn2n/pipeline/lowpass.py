"""The LPF stage: |LPF(x_i) - LPF(x_{i+1})| for every pair, as a generator of progress events."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from ..config import TrainConfig
from ..control import RunControl
from ..events import Event, StageProgress
from ..method.lowpass import LowpassSettings, choose_stabilizer, iter_lowpass, lpf_noise_estimate
from ..method.masks import PairDifferences
from ..resources import allocate
from ..stack import PreparedStack


def lowpass_events(
    prepared: PreparedStack,
    settings: LowpassSettings | None = None,
    workers: int | None = None,
    control: RunControl | None = None,
    keep_lowpass: bool = False,
) -> Iterator[StageProgress | PairDifferences]:
    """Yield ``StageProgress("lowpass", ...)`` per slice, then the ``PairDifferences`` (nothing
    more once ``control`` is stopped); with ``keep_lowpass`` it holds the LPF slices too.

    Slices are filtered in order and each difference is taken as soon as both LPF slices exist,
    so memory holds the differences (a temporary memmap for big lazy inputs) and two LPF slices.
    Signal-dependent noise is variance-stabilised first (``settings.stabilize``, noise_model.py).
    """
    settings = settings or LowpassSettings()
    stabilizer = choose_stabilizer(prepared.slices, settings)
    transform = None if stabilizer is None else stabilizer.stabilize
    sigma, correlated = lpf_noise_estimate(prepared.slices, settings, transform)
    starts = prepared.layout.pair_starts()
    diffs = allocate((len(starts), *prepared.slices.shape[1:]), np.float32, spill=prepared.lazy)
    pair_of_start = {int(s): k for k, s in enumerate(starts)}
    kept = (
        allocate(prepared.slices.shape, np.float32, spill=prepared.lazy) if keep_lowpass else None
    )
    previous, total = None, len(prepared.slices)
    for i, filtered in iter_lowpass(
        prepared.slices, settings, sigma=sigma, workers=workers, stabilizer=stabilizer
    ):
        if control is not None and control.stopped:
            return
        if previous is not None and (i - 1) in pair_of_start:
            np.abs(np.subtract(previous, filtered), out=diffs[pair_of_start[i - 1]])
        previous = filtered
        if kept is not None:
            kept[i] = filtered
        yield StageProgress("lowpass", i + 1, total)
    yield PairDifferences(diffs, starts, prepared.layout, settings, stabilizer, correlated, kept)


def compute_differences(
    data: np.ndarray | PreparedStack,
    axis: int | str | None = None,
    axes: str | None = None,
    settings: LowpassSettings | None = None,
    workers: int | None = None,
    on_event: Callable[[Event], None] | None = None,
    keep_lowpass: bool = False,
) -> PairDifferences:
    """The LPF differences of a stack (the expensive, threshold-independent part of Eq. 3);
    ``on_event`` receives the ``StageProgress`` events; ``keep_lowpass`` as in
    :func:`lowpass_events`."""
    prepared = (
        data if isinstance(data, PreparedStack) else PreparedStack.from_array(data, axis, axes)
    )
    for item in lowpass_events(prepared, settings, workers, keep_lowpass=keep_lowpass):
        if isinstance(item, PairDifferences):
            return item
        if on_event is not None:
            on_event(item)
    raise RuntimeError("the LPF stage ended without a result")


def mask_volume(
    data: np.ndarray,
    threshold: float | str = "auto",
    axis: int | str | None = None,
    axes: str | None = None,
    settings: LowpassSettings | None = None,
    config: TrainConfig | None = None,
) -> np.ndarray:
    """The W volume as labels (0 no pair, 1 matched, 2 unmatched) for ``threshold`` or "auto"
    (suggested for a run of ``config``, by default ``TrainConfig.preset("auto")``)."""
    diffs = compute_differences(data, axis, axes, settings)
    return diffs.mask_volume(
        diffs.resolve_threshold(threshold, config or TrainConfig.preset("auto"))
    )
