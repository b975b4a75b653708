"""What a run or an application of a model needs, as one object instead of many keywords."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..config import TrainConfig
from ..method.lowpass import LowpassSettings
from ..method.masks import PairDifferences


@dataclass
class RunRequest:
    """One NS-N2N run: train on ``data`` and denoise it.

    ``threshold``: th of Eq. 3 on the [0, 1] scale, or "auto" (suggested for the run's planned
    steps). ``config``: the training settings (default ``TrainConfig.preset("auto")``: the paper's
    on a GPU, the fast preset on a CPU). ``axis`` / ``axes``: the slice axis (index or letter) and
    the data's axis letters. ``lowpass``: LPF settings; ``differences``: LPF differences computed
    before (the LPF stage is then skipped). ``preview_index`` / ``preview_every``: a denoised
    preview of that slice (an index or a callable returning one) every N steps. ``tta``: 8-fold
    test-time augmentation at inference. ``cast_output``: the result in the input's dtype.
    ``out``: an array (input shape) that receives the result slice by slice, e.g. a memmap.
    ``in_memory``: load the input whole (True), read it slice by slice (False) or decide from
    its size (None). ``rician``: remove the Rician bias from the result (magnitude MRI) with
    this sigma in input units, or estimated when True / "auto". ``infer``: False trains only
    (``Finished.denoised`` is None; e.g. when the stack is denoised on a cluster afterwards).
    """

    data: Any
    threshold: float | str = "auto"
    config: TrainConfig | None = None
    axis: int | str | None = None
    axes: str | None = None
    lowpass: LowpassSettings | None = None
    differences: PairDifferences | None = None
    preview_index: int | Callable[[], int] | None = None
    preview_every: int = 0
    tta: bool = False
    cast_output: bool = False
    out: np.ndarray | None = field(default=None, repr=False)
    in_memory: bool | None = None
    rician: bool | float | str = False
    infer: bool = True

    def training_config(self) -> TrainConfig:
        return self.config or TrainConfig.preset("auto")


@dataclass
class ApplyRequest:
    """Denoise ``data`` with a trained model (``pipeline.apply``).

    By default the stack is scaled with the training stack's normalisation, so the same physical
    units (e.g. HU) meet the same network input; ``renormalize`` uses this stack's own min/max.
    ``batch_size``: slices per forward pass (default: by device). Other fields as in
    :class:`RunRequest`.
    """

    data: Any
    axis: int | str | None = None
    axes: str | None = None
    device: str = "auto"
    tta: bool = False
    renormalize: bool = False
    cast_output: bool = False
    batch_size: int | None = None
    out: np.ndarray | None = field(default=None, repr=False)
    rician: bool | float | str = False


def as_request(kind: type, request: Any, options: dict[str, Any]) -> Any:
    """``request`` if it is a ``kind`` (with ``options`` replaced), else ``kind(request, **options)``."""
    if not isinstance(request, kind):
        return kind(request, **options)
    return replace(request, **options) if options else request
