"""Denoising a stack with a trained model, as a generator of progress events."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np

from ..control import RunControl
from ..device import release_device_memory, select_device
from ..events import Event, Finished, StageProgress
from ..method.inference import default_batch_size, predict_slices
from ..method.rician import remove_rician_bias, rician_sigma_for
from ..models.bundle import ModelBundle
from ..stack import PreparedStack
from ..training.trainer import autocast_dtype
from .output import OutputWriter
from .progress import event_sink
from .request import ApplyRequest, as_request, check_finite, check_network_fits


def apply(
    bundle: ModelBundle,
    request: ApplyRequest | Any,
    control: RunControl | None = None,
    **options: Any,
) -> Iterator[Event]:
    """Denoise ``request.data`` with ``bundle`` batch by batch, yielding
    ``StageProgress("inference", ...)`` and then ``Finished`` (``model`` is ``bundle``). A stop
    through ``control`` ends it after the current batch, with no result."""
    request = as_request(ApplyRequest, request, options)
    started = time.perf_counter()
    control = control or RunControl()
    device = select_device(request.device)  # an unavailable device fails before any work
    data = request.data
    normalizer = None if request.renormalize else bundle.normalizer
    prepared = PreparedStack.from_array(data, request.axis, request.axes, normalizer)
    check_network_fits(tuple(prepared.slices.shape[1:]), bundle.config.depth)
    if not request.renormalize:  # results come back in this stack's dtype when cast
        prepared.normalizer = replace(bundle.normalizer, dtype=str(np.dtype(data.dtype)))
    sigma = rician_sigma_for(prepared, request.rician)
    in_units = None if sigma is None else partial(remove_rician_bias, sigma=sigma)
    model = bundle.build(device)
    amp = autocast_dtype(device, bundle.config.mixed_precision)
    out = request.out
    result = out if out is not None else prepared.allocate_output(request.cast_output)
    batch_size = request.batch_size or default_batch_size(device)
    total = len(prepared.slices)
    writer = OutputWriter(
        prepared, result, request.cast_output, in_units, request.keep_structure and total > 1
    )
    try:
        for first in range(0, total, batch_size):
            control.wait_while_paused()
            if control.stopped:
                return
            block = prepared.slices[first : first + batch_size]
            block = predict_slices(model, block, device, batch_size, tta=request.tta, amp_dtype=amp)
            check_finite(block, "the model's output")
            writer.write(first, block)
            yield StageProgress("inference", min(first + batch_size, total), total)
        for event in writer.finish():
            if control.stopped:
                return
            yield event
    finally:
        del model
        release_device_memory(device)
    yield Finished(denoised=result, model=bundle, elapsed_s=time.perf_counter() - started)


def apply_model(
    bundle: ModelBundle,
    data: Any,
    *,
    progress: bool | Callable[[Event], None] = False,
    control: RunControl | None = None,
    **options: Any,
) -> np.ndarray:
    """Denoise another stack with a trained model and return the result (float32 in the input's
    units, or its dtype with ``cast_output``). ``progress`` as in :func:`denoise`; other
    keywords are :class:`ApplyRequest` fields."""
    sink = event_sink(progress, label="nsn2n apply")
    try:
        for event in apply(bundle, as_request(ApplyRequest, data, options), control):
            sink(event)
            if isinstance(event, Finished):
                return event.denoised
    finally:
        sink.close()
    raise RuntimeError("the model application was stopped before it finished")
