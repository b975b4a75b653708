"""High-level Python API: denoise a stack, compute weight masks, apply a saved model.

>>> from napari_nsn2n import denoise
>>> clean = denoise(noisy_stack, threshold=0.01, config=TrainConfig(epochs=30))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from .config import TrainConfig
from .control import RunControl
from .device import select_device
from .events import Event, Finished, StageProgress
from .masks import LowpassSettings, iter_lowpass, lpf_differences, matched_fraction, weight_masks
from .model_io import ModelBundle
from .stack import Normalizer, SliceLayout, check_stack
from .threshold import suggest_threshold
from .train import Trainer, autocast_dtype, training_events

MASK_NO_PAIR, MASK_MATCHED, MASK_UNMATCHED = 0, 1, 2


@dataclass
class PreparedStack:
    """A checked input as normalised (M, H, W) float32 slices plus how to map results back."""

    layout: SliceLayout
    normalizer: Normalizer
    slices: np.ndarray

    @classmethod
    def from_array(
        cls,
        data: np.ndarray,
        axis: int | str | None = None,
        axes: str | None = None,
        normalizer: Normalizer | None = None,
    ) -> PreparedStack:
        layout = SliceLayout(tuple(np.shape(data)), check_stack(data, axis, axes))
        normalizer = normalizer or Normalizer.fit(data)
        return cls(layout, normalizer, normalizer.forward(layout.to_slices(np.asarray(data))))

    def restore(self, slices: np.ndarray, cast: bool = False) -> np.ndarray:
        """Normalised slices back to the input's shape and units."""
        return self.normalizer.inverse(self.layout.from_slices(slices), cast=cast)


@dataclass
class PairDifferences:
    """|LPF(x_i) - LPF(x_{i+1})| for every pair, computed once and reusable for any threshold."""

    differences: np.ndarray
    pair_starts: np.ndarray
    layout: SliceLayout
    settings: LowpassSettings

    def masks(self, threshold: float) -> np.ndarray:
        """W_i for every pair as uint8 (P, H, W)."""
        return weight_masks(self.differences, threshold)

    def matched_fraction(self, threshold: float) -> float:
        return matched_fraction(self.differences, threshold)

    def suggest_threshold(self) -> float:
        return suggest_threshold(self.differences)

    def mask_volume(self, threshold: float) -> np.ndarray:
        """Labels in the input's shape: W_i at slice i as 1 (matched, W = 1) or 2 (W = 0);
        0 on the last slice of each volume, which has no following neighbour."""
        labels = np.full(
            (len(self.pair_starts) + self.layout.n_volumes, *self.differences.shape[1:]),
            MASK_NO_PAIR,
            dtype=np.uint8,
        )
        starts = self.pair_starts
        labels[starts] = np.where(
            self.differences <= np.float32(threshold), MASK_MATCHED, MASK_UNMATCHED
        )
        return self.layout.from_slices(labels)


def lowpass_events(
    prepared: PreparedStack,
    settings: LowpassSettings | None = None,
    workers: int | None = None,
    control: RunControl | None = None,
) -> Iterator[StageProgress | PairDifferences]:
    """Yield ``StageProgress("lowpass", ...)`` per slice, then the ``PairDifferences``."""
    settings = settings or LowpassSettings()
    lpf = np.empty_like(prepared.slices)
    total = len(lpf)
    for i, filtered in iter_lowpass(prepared.slices, settings, workers=workers):
        if control is not None and control.stopped:
            return
        lpf[i] = filtered
        yield StageProgress("lowpass", i + 1, total)
    starts = prepared.layout.pair_starts()
    yield PairDifferences(lpf_differences(lpf, starts), starts, prepared.layout, settings)


def compute_differences(
    data: np.ndarray | PreparedStack,
    axis: int | str | None = None,
    axes: str | None = None,
    settings: LowpassSettings | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PairDifferences:
    """The LPF differences of a stack (the expensive, threshold-independent part of Eq. 3)."""
    prepared = (
        data if isinstance(data, PreparedStack) else PreparedStack.from_array(data, axis, axes)
    )
    for item in lowpass_events(prepared, settings, workers):
        if isinstance(item, PairDifferences):
            return item
        if progress is not None:
            progress(item.done, item.total)
    raise RuntimeError("unreachable")


def mask_volume(
    data: np.ndarray,
    threshold: float | str = "auto",
    axis: int | str | None = None,
    axes: str | None = None,
    settings: LowpassSettings | None = None,
) -> np.ndarray:
    """The W volume as labels (0 no pair, 1 matched, 2 unmatched) for ``threshold`` or "auto"."""
    diffs = compute_differences(data, axis, axes, settings)
    return diffs.mask_volume(resolve_threshold(threshold, diffs))


def resolve_threshold(threshold: float | str | None, differences: PairDifferences) -> float:
    if threshold is None or (isinstance(threshold, str) and threshold.lower() == "auto"):
        return differences.suggest_threshold()
    return float(threshold)


def run(
    data: np.ndarray,
    threshold: float | str = "auto",
    config: TrainConfig | None = None,
    axis: int | str | None = None,
    axes: str | None = None,
    lowpass: LowpassSettings | None = None,
    differences: PairDifferences | None = None,
    control: RunControl | None = None,
    preview_index: int | Callable[[], int] | None = None,
    preview_every: int = 0,
    tta: bool = False,
    cast_output: bool = False,
) -> Iterator[Event]:
    """The whole NS-N2N pipeline as a generator of events, ending with ``Finished``.

    Stages: check and normalise; LPF differences (skipped when ``differences`` is given); W_i for
    ``threshold`` (a float on the [0, 1] scale, or "auto"); training; inference on every slice.
    A stop through ``control`` ends training early and still denoises with the model so far.
    ``preview_index`` counts slices along the slice axis (of the first volume for 4D data).
    """
    config = config or TrainConfig()
    control = control or RunControl()
    started = time.perf_counter()
    prepared = PreparedStack.from_array(data, axis, axes)
    if differences is None and config.use_mask:
        for item in lowpass_events(prepared, lowpass, control=control):
            if isinstance(item, PairDifferences):
                differences = item
            else:
                yield item
        if differences is None:
            return
    th = resolve_threshold(threshold, differences) if differences is not None else None
    masks = differences.masks(th) if differences is not None and config.use_mask else None
    trainer = Trainer(prepared.slices, masks, prepared.layout.pair_starts(), config)
    try:
        to_units = prepared.normalizer.inverse
        yield from training_events(trainer, control, preview_index, preview_every, to_units)
        result = np.empty_like(prepared.slices)
        for done, total in _inference_progress(trainer, prepared.slices, result, tta):
            yield StageProgress("inference", done, total)
        bundle = ModelBundle(
            state=trainer.cpu_state(),
            config=config,
            normalizer=prepared.normalizer,
            threshold=th,
            meta={"shape": list(prepared.layout.shape), "slice_axis": prepared.layout.slice_axis},
        )
    finally:
        trainer.close()
    yield Finished(
        denoised=prepared.restore(result, cast=cast_output),
        model=bundle,
        elapsed_s=time.perf_counter() - started,
        stopped_early=control.stopped,
    )


def _inference_progress(trainer: Trainer, slices: np.ndarray, out: np.ndarray, tta: bool):
    progress: list[tuple[int, int]] = []
    batch = max(1, 4 if tta else 8)
    for first in range(0, len(slices), batch):
        trainer.predict(slices[first : first + batch], tta=tta, out=out[first : first + batch])
        progress.append((min(first + batch, len(slices)), len(slices)))
        yield progress[-1]


def denoise(
    data: np.ndarray,
    threshold: float | str = "auto",
    config: TrainConfig | None = None,
    axis: int | str | None = None,
    axes: str | None = None,
    on_event: Callable[[Event], None] | None = None,
    return_model: bool = False,
    **kwargs,
) -> np.ndarray | tuple[np.ndarray, ModelBundle]:
    """Train NS-N2N on ``data`` and return it denoised (float32, input units and shape).

    ``on_event`` receives every progress event; other keywords go to :func:`run`.
    """
    for event in run(data, threshold, config, axis, axes, **kwargs):
        if on_event is not None:
            on_event(event)
        if isinstance(event, Finished):
            return (event.denoised, event.model) if return_model else event.denoised
    raise RuntimeError("the run ended without a result")


def apply_model(
    bundle: ModelBundle,
    data: np.ndarray,
    axis: int | str | None = None,
    axes: str | None = None,
    device: str = "auto",
    tta: bool = False,
    renormalize: bool = False,
    cast_output: bool = False,
    batch_size: int = 8,
) -> np.ndarray:
    """Denoise another stack with a trained model.

    By default the stack is scaled with the training stack's normalisation, so the same physical
    units (e.g. HU) meet the same network input; ``renormalize`` uses this stack's own min/max.
    """
    from .inference import predict_slices

    prepared = PreparedStack.from_array(
        data, axis, axes, None if renormalize else bundle.normalizer
    )
    torch_device = select_device(device)
    model = bundle.build(torch_device)
    try:
        amp = autocast_dtype(torch_device, bundle.config.mixed_precision)
        out = predict_slices(
            model, prepared.slices, torch_device, batch_size, tta=tta, amp_dtype=amp
        )
    finally:
        del model
    return prepared.restore(out, cast=cast_output)
