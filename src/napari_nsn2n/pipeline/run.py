"""The NS-N2N pipeline: check, LPF, W_i, training, inference, as one generator of events."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np

from ..control import RunControl
from ..device import select_device
from ..display import display_range
from ..events import Event, Finished, StageProgress, TrainingStarted, TrainStep
from ..method.masks import PairDifferences
from ..method.rician import remove_rician_bias, rician_sigma_for
from ..models.bundle import ModelBundle
from ..models.sample import training_sample
from ..stack import PreparedStack, evenly_spaced
from ..training.loop import training_events
from ..training.trainer import Trainer
from .lowpass import lowpass_events
from .output import OutputWriter
from .progress import event_sink
from .request import RunRequest, as_request, check_finite, check_network_fits
from .targets import guided_target_events

INFERENCE_BLOCK = 8  # slices per inference progress event (the device batches within a block)
RANGE_SLICES = 16  # evenly spaced slices the training stack's intensity range is measured on


def intensity_range(
    slices: Any, to_units: Callable[[np.ndarray], np.ndarray] | None = None
) -> list[float] | None:
    """The robust intensity range (``display.display_range``: the 0.5-99.5 percentiles) of a
    stack of slices (anything with ``len`` and integer indexing) on a few evenly spaced slices,
    in the units ``to_units`` returns. Kept in the model's meta so that a stack the model is
    later applied to can be compared with the training stack."""
    picks = evenly_spaced(len(slices), RANGE_SLICES)
    sample = np.stack([np.asarray(slices[int(i)], dtype=np.float32) for i in picks])
    found = display_range(sample if to_units is None else to_units(sample))
    return None if found is None else [float(v) for v in found]


def run(
    request: RunRequest | Any, control: RunControl | None = None, **options: Any
) -> Iterator[Event]:
    """The whole pipeline for ``request`` (a :class:`RunRequest`, or the data with the request's
    fields as keywords), as a generator of events ending with ``Finished``.

    Stages: check and normalise; LPF differences (skipped when the request holds them); W_i for
    the threshold; training; inference on every slice. A stop through ``control`` ends training
    early and still denoises with the model so far; a stop during the LPF ends the run with no
    result. The model's meta records the threshold, steps, and the Rician sigma used.
    A run that cannot train (``training.guard``) or whose result is not finite raises
    ``TrainingFailed``; bad settings, devices and stacks raise before the LPF.
    """
    request = as_request(RunRequest, request, options)
    config = request.training_config()
    control = control or RunControl()
    started = time.perf_counter()
    select_device(config.device)  # an unavailable device fails before the LPF
    prepared = PreparedStack.from_array(
        request.data, request.axis, request.axes, in_memory=request.in_memory
    )
    plane = tuple(prepared.slices.shape[1:])
    check_network_fits(plane, config.depth)
    check_network_fits(config.patch_shape(*plane), config.depth, "training patches")
    rician_sigma = rician_sigma_for(prepared, request.rician)
    guided = config.target == "guided" and config.use_mask
    differences = request.differences
    if guided and differences is not None and differences.lowpass is None:
        differences = None  # the guided targets need the LPF slices themselves
    if differences is None and config.use_mask:
        for item in lowpass_events(prepared, request.lowpass, control=control, keep_lowpass=guided):
            if isinstance(item, PairDifferences):
                differences = item
            else:
                yield item
        if differences is None:
            return
    th = differences.resolve_threshold(request.threshold, config) if differences else None
    masks = differences.lazy_masks(th) if differences is not None and config.use_mask else None
    targets = None
    if guided:
        for item in guided_target_events(prepared, differences, th, control):
            if isinstance(item, StageProgress):
                yield item
            else:
                targets = item
        if targets is None:
            return
    lambda_rc_auto = config.lambda_rc == "auto"
    config = config.resolved(differences.correlated_noise if differences is not None else None)
    trainer = Trainer(prepared.slices, masks, prepared.layout.pair_starts(), config, targets)
    in_units = None if rician_sigma is None else partial(remove_rician_bias, sigma=rician_sigma)
    try:
        to_units = prepared.normalizer.inverse
        steps_done = 0
        events = training_events(
            trainer, control, request.preview_index, request.preview_every, to_units
        )
        for event in events:
            if isinstance(event, TrainingStarted):
                event = replace(
                    event,
                    threshold=th,
                    matched_fraction=None if masks is None else differences.matched_fraction(th),
                    lambda_rc=float(config.lambda_rc),
                    lambda_rc_auto=lambda_rc_auto,
                )
            steps_done = event.step if isinstance(event, TrainStep) else steps_done
            yield event
        if trainer.stopped_at is None:  # the stop rule restores its best weights itself
            trainer.guard.check_finished()
        result = None
        if request.infer:
            result = (
                request.out
                if request.out is not None
                else prepared.allocate_output(request.cast_output)
            )
        total = len(prepared.slices) if request.infer else 0
        writer = OutputWriter(
            prepared, result, request.cast_output, in_units, request.keep_structure and total > 1
        )
        for first in range(0, total, INFERENCE_BLOCK):
            block = trainer.predict(
                prepared.slices[first : first + INFERENCE_BLOCK], tta=request.tta
            )
            check_finite(block, "the trained network's output")
            writer.write(first, block)
            yield StageProgress("inference", min(first + INFERENCE_BLOCK, total), total)
        yield from writer.finish()
        bundle = ModelBundle(
            state=trainer.cpu_state(),
            config=config,
            normalizer=prepared.normalizer,
            threshold=th,
            meta={
                "shape": list(prepared.layout.shape),
                "slice_axis": prepared.layout.slice_axis,
                "epochs": trainer.epochs,  # as run: min_steps may raise config.epochs
                "steps": steps_done,
                "recoveries": len(trainer.guard.recoveries),
                "loss_peak_ratio": round(trainer.guard.peak_ratio, 2),
                "rician_sigma": rician_sigma,
                "lambda_rc_auto": lambda_rc_auto,  # config.lambda_rc was chosen by the rule
                "stopped_by_rule_at": trainer.stopped_at,
                "intensity_range": intensity_range(
                    prepared.slices, prepared.normalizer.inverse
                ),  # to compare another stack with
            },
            sample=training_sample(prepared, masks),
        )
    finally:
        trainer.close()
    yield Finished(
        denoised=result,
        model=bundle,
        elapsed_s=time.perf_counter() - started,
        stopped_early=control.stopped,
    )


def denoise(
    data: Any,
    threshold: float | str = "auto",
    config: Any = None,
    *,
    return_model: bool = False,
    progress: bool | Callable[[Event], None] = False,
    control: RunControl | None = None,
    **options: Any,
):
    """Train NS-N2N on ``data`` and return it denoised (float32, input units and shape), with
    the trained :class:`ModelBundle` when ``return_model``.

    ``progress``: True shows a progress bar on stderr (plain lines when it is not a terminal), a
    callable receives every event. Other keywords are :class:`RunRequest` fields.
    """
    sink = event_sink(progress, label="nsn2n")
    try:
        request = as_request(
            RunRequest, data, {"threshold": threshold, "config": config, **options}
        )
        for event in run(request, control):
            sink(event)
            if isinstance(event, Finished):
                return (event.denoised, event.model) if return_model else event.denoised
    finally:
        sink.close()
    raise RuntimeError("the run ended without a result")
