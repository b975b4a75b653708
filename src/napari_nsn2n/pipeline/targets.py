"""The guided-target stage (``TrainConfig.target == "guided"``): a Noise2Noise target for every
pixel of every pair, the neighbour where W = 1 and the guided neighbour target where W = 0."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..control import RunControl
from ..events import StageProgress
from ..method.guided import pair_targets
from ..method.masks import PairDifferences, matched
from ..resources import allocate
from ..stack import PreparedStack


def guided_target_events(
    prepared: PreparedStack,
    differences: PairDifferences,
    threshold: float,
    control: RunControl | None = None,
) -> Iterator[StageProgress | tuple[np.ndarray, np.ndarray]]:
    """Yield ``StageProgress("targets", ...)`` per pair, then (forward, backward) targets, each
    (P, H, W) float32 on the [0, 1] scale (a temporary memmap for big lazy inputs). Needs the
    LPF slices in ``differences`` (``lowpass_events(..., keep_lowpass=True)``)."""
    if differences.lowpass is None:
        raise ValueError("guided targets need the LPF slices (keep_lowpass=True)")
    starts = differences.pair_starts
    shape = (len(starts), *prepared.slices.shape[1:])
    forward = allocate(shape, np.float32, spill=prepared.lazy)
    backward = allocate(shape, np.float32, spill=prepared.lazy)
    for k, start in enumerate(starts):
        if control is not None and control.stopped:
            return
        start = int(start)
        raw = {start: prepared.slices[start], start + 1: prepared.slices[start + 1]}
        w = matched(differences.differences[k], threshold)
        forward[k], backward[k] = pair_targets(differences.lowpass, raw, start, w)
        yield StageProgress("targets", k + 1, len(starts))
    yield forward, backward
