"""High-level Python API: denoise a stack, compute weight masks, apply a saved model.

>>> from napari_nsn2n import denoise
>>> clean = denoise(noisy_stack, threshold=0.01, config=TrainConfig(epochs=30))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from .config import TrainConfig
from .control import RunControl
from .device import release_device_memory, select_device
from .errors import NSN2NError
from .events import Event, Finished, StageProgress, TrainStep
from .inference import default_batch_size, predict_slices
from .masks import (
    LowpassSettings,
    choose_stabilizer,
    evenly_spaced,
    iter_lowpass,
    lpf_noise_estimate,
    matched_fraction,
    weight_masks,
)
from .model_io import ModelBundle
from .noise_model import PoissonGaussian
from .rician import estimate_rician_sigma, remove_rician_bias
from .stack import NormalizedSlices, Normalizer, SliceLayout, check_stack, is_lazy
from .storage import allocate, fits_in_memory
from .threshold import k_for_budget, suggest_threshold
from .train import Trainer, autocast_dtype, training_events

MASK_NO_PAIR, MASK_MATCHED, MASK_UNMATCHED = 0, 1, 2


@dataclass
class PreparedStack:
    """A checked input as normalised (M, H, W) float32 slices plus how to map results back.

    ``slices`` is an in-memory array, or for memmap / zarr / dask inputs too big to load
    (``storage.fits_in_memory``) a :class:`~napari_nsn2n.stack.NormalizedSlices` that reads one
    slice at a time; ``in_memory`` forces either.
    """

    layout: SliceLayout
    normalizer: Normalizer
    slices: np.ndarray | NormalizedSlices

    @classmethod
    def from_array(
        cls,
        data: np.ndarray,
        axis: int | str | None = None,
        axes: str | None = None,
        normalizer: Normalizer | None = None,
        in_memory: bool | None = None,
    ) -> PreparedStack:
        layout = SliceLayout(tuple(np.shape(data)), check_stack(data, axis, axes))
        normalizer = normalizer or Normalizer.fit(data)
        slices = NormalizedSlices(data, layout, normalizer)
        if in_memory is None:
            in_memory = not is_lazy(data) or fits_in_memory(slices.shape)
        if in_memory:
            slices = normalizer.forward(layout.to_slices(np.asarray(data)))
        return cls(layout, normalizer, slices)

    @property
    def lazy(self) -> bool:
        return isinstance(self.slices, NormalizedSlices)

    def restore(self, slices: np.ndarray, cast: bool = False) -> np.ndarray:
        """Normalised (M, H, W) slices in memory back to the input's shape and units."""
        return self.normalizer.inverse(self.layout.from_slices(np.asarray(slices)), cast=cast)

    def rician_sigma(self, rician: bool | float | str | None, max_slices: int = 32) -> float | None:
        """The noise sigma (input units) for the Rician bias correction: None when ``rician`` is
        off (False / None / 0), estimated on up to ``max_slices`` evenly spaced slices when it is
        True or "auto", else ``float(rician)``."""
        if rician is None or rician is False or (not isinstance(rician, str) and rician == 0):
            return None
        if self.normalizer.low < 0:
            raise NSN2NError(
                "Rician correction needs magnitude data (the stack has negative values)"
            )
        if rician is True or (isinstance(rician, str) and rician.lower() == "auto"):
            picks = evenly_spaced(len(self.slices), max_slices)
            planes = self.normalizer.inverse(np.stack([self.slices[i] for i in picks]))
            return estimate_rician_sigma(planes)
        sigma = float(rician)
        if not sigma > 0:
            raise NSN2NError(f"Rician sigma must be > 0, got {rician}")
        return sigma

    def allocate_output(self, cast: bool = False) -> np.ndarray:
        """An array of the input's shape for the result (a temporary memmap for big lazy inputs)."""
        dtype = self.normalizer.dtype if cast else np.float32
        return allocate(self.layout.shape, dtype, spill=self.lazy)

    def write(
        self,
        out: np.ndarray,
        first: int,
        block: np.ndarray,
        cast: bool = False,
        rician_sigma: float | None = None,
    ) -> None:
        """Store normalised slices ``first, first + 1, ...`` into ``out`` in the input's units;
        with ``rician_sigma`` (input units) after removing the Rician bias (``rician.py``)."""
        block = self.normalizer.inverse(block)
        if rician_sigma:
            block = remove_rician_bias(block, rician_sigma)
        if cast:
            block = self.normalizer.cast(block)
        for k, plane in enumerate(block):
            out[self.layout.index_of(first + k)] = plane


class ThresholdedMasks:
    """W_i = (|LPF_i - LPF_{i+1}| <= th) computed per pair on access (no full mask volume)."""

    def __init__(self, differences: np.ndarray, threshold: float) -> None:
        self.differences, self.threshold = differences, np.float32(threshold)

    def __len__(self) -> int:
        return len(self.differences)

    def __getitem__(self, pair: int) -> np.ndarray:
        return (np.asarray(self.differences[pair]) <= self.threshold).view(np.uint8)


@dataclass
class PairDifferences:
    """|LPF(x_i) - LPF(x_{i+1})| for every pair, computed once and reusable for any threshold."""

    differences: np.ndarray
    pair_starts: np.ndarray
    layout: SliceLayout
    settings: LowpassSettings
    stabilizer: PoissonGaussian | None = None  # set when the LPF ran on stabilised slices
    correlated_noise: bool = False  # the LPF was tuned with the inter-slice noise estimate

    def masks(self, threshold: float) -> np.ndarray:
        """W_i for every pair as uint8 (P, H, W)."""
        return weight_masks(np.asarray(self.differences), threshold)

    def lazy_masks(self, threshold: float) -> ThresholdedMasks:
        return ThresholdedMasks(self.differences, threshold)

    def matched_fraction(self, threshold: float) -> float:
        return matched_fraction(np.asarray(self.differences), threshold)

    def planned_steps(self, config: TrainConfig) -> int:
        """Optimiser steps ``config`` trains on this stack's pairs."""
        height, width = self.differences.shape[-2:]
        return config.planned_steps(len(self.pair_starts), height, width)

    def suggest_threshold(self, config: TrainConfig | None = None, max_pairs: int = 64) -> float:
        """``threshold.suggest_threshold`` on up to ``max_pairs`` evenly spaced pairs, with k from
        the LPF's noise estimate and the steps ``config`` will train (``threshold.k_for_budget``;
        without ``config`` the short-run k)."""
        picks = evenly_spaced(len(self.differences), max_pairs)
        steps = self.planned_steps(config) if config is not None else None
        k = k_for_budget(steps, self.correlated_noise)
        return suggest_threshold(np.stack([self.differences[i] for i in picks]), k=k)

    def mask_volume(self, threshold: float) -> np.ndarray:
        """Labels in the input's shape: W_i at slice i as 1 (matched, W = 1) or 2 (W = 0);
        0 on the last slice of each volume, which has no following neighbour."""
        labels = np.zeros(self.layout.shape, dtype=np.uint8)
        th = np.float32(threshold)
        for pair, start in enumerate(self.pair_starts):
            matched = np.asarray(self.differences[pair]) <= th
            labels[self.layout.index_of(int(start))] = np.where(
                matched, MASK_MATCHED, MASK_UNMATCHED
            )
        return labels


def lowpass_events(
    prepared: PreparedStack,
    settings: LowpassSettings | None = None,
    workers: int | None = None,
    control: RunControl | None = None,
) -> Iterator[StageProgress | PairDifferences]:
    """Yield ``StageProgress("lowpass", ...)`` per slice, then the ``PairDifferences``.

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
    previous, total = None, len(prepared.slices)
    for i, filtered in iter_lowpass(
        prepared.slices, settings, sigma=sigma, workers=workers, stabilizer=stabilizer
    ):
        if control is not None and control.stopped:
            return
        if previous is not None and (i - 1) in pair_of_start:
            np.abs(np.subtract(previous, filtered), out=diffs[pair_of_start[i - 1]])
        previous = filtered
        yield StageProgress("lowpass", i + 1, total)
    yield PairDifferences(diffs, starts, prepared.layout, settings, stabilizer, correlated)


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
    config: TrainConfig | None = None,
) -> np.ndarray:
    """The W volume as labels (0 no pair, 1 matched, 2 unmatched) for ``threshold`` or "auto"
    (suggested for a run of ``config``, by default ``TrainConfig.preset("auto")``)."""
    diffs = compute_differences(data, axis, axes, settings)
    return diffs.mask_volume(
        resolve_threshold(threshold, diffs, config or TrainConfig.preset("auto"))
    )


def resolve_threshold(
    threshold: float | str | None,
    differences: PairDifferences,
    config: TrainConfig | None = None,
) -> float:
    """``threshold`` as a float; None or "auto" is the suggestion for a run of ``config``."""
    if threshold is None or (isinstance(threshold, str) and threshold.lower() == "auto"):
        return differences.suggest_threshold(config)
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
    out: np.ndarray | None = None,
    in_memory: bool | None = None,
    rician: bool | float | str = False,
) -> Iterator[Event]:
    """The whole NS-N2N pipeline as a generator of events, ending with ``Finished``.

    Stages: check and normalise; LPF differences (skipped when ``differences`` is given); W_i for
    ``threshold`` (a float on the [0, 1] scale, or "auto"); training (``config`` defaults to
    ``TrainConfig.preset("auto")``: the paper's settings on a GPU, the fast preset on a CPU);
    inference on every slice.
    A stop through ``control`` ends training early and still denoises with the model so far.
    ``out`` (input shape; float32, or the input dtype with ``cast_output``) receives the result
    slice by slice, e.g. a ``tifffile.memmap`` to stream a stack larger than memory to disk;
    ``in_memory`` as in :meth:`PreparedStack.from_array` (default: load unless too big).
    ``preview_index`` counts slices along the slice axis (of the first volume for 4D data).
    ``rician`` (magnitude MRI): remove the Rician bias from the result (``rician.py``) with the
    noise sigma in input units, or estimated from the stack when True / "auto"; the model's meta
    records the sigma used.
    """
    config = config or TrainConfig.preset("auto")
    control = control or RunControl()
    started = time.perf_counter()
    prepared = PreparedStack.from_array(data, axis, axes, in_memory=in_memory)
    rician_sigma = prepared.rician_sigma(rician)
    if differences is None and config.use_mask:
        for item in lowpass_events(prepared, lowpass, control=control):
            if isinstance(item, PairDifferences):
                differences = item
            else:
                yield item
        if differences is None:
            return
    th = resolve_threshold(threshold, differences, config) if differences is not None else None
    masks = differences.lazy_masks(th) if differences is not None and config.use_mask else None
    lambda_rc_auto = config.lambda_rc == "auto"
    config = config.resolved(differences.correlated_noise if differences is not None else None)
    trainer = Trainer(prepared.slices, masks, prepared.layout.pair_starts(), config)
    try:
        to_units = prepared.normalizer.inverse
        steps_done = 0
        for event in training_events(trainer, control, preview_index, preview_every, to_units):
            steps_done = event.step if isinstance(event, TrainStep) else steps_done
            yield event
        result = out if out is not None else prepared.allocate_output(cast_output)
        batch = 8  # slices per progress event; predict_slices batches them for the device
        for first in range(0, len(prepared.slices), batch):
            block = trainer.predict(prepared.slices[first : first + batch], tta=tta)
            prepared.write(result, first, block, cast_output, rician_sigma)
            yield StageProgress(
                "inference", min(first + batch, len(prepared.slices)), len(prepared.slices)
            )
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
            },
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
    batch_size: int | None = None,
    out: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
    rician: bool | float | str = False,
) -> np.ndarray:
    """Denoise another stack with a trained model, batch by batch (``out`` and ``rician`` as in
    :func:`run`; ``rician`` is estimated on this stack).

    By default the stack is scaled with the training stack's normalisation, so the same physical
    units (e.g. HU) meet the same network input; ``renormalize`` uses this stack's own min/max.
    """
    normalizer = None if renormalize else bundle.normalizer
    prepared = PreparedStack.from_array(data, axis, axes, normalizer)
    if not renormalize:  # results come back in this stack's dtype when cast
        prepared.normalizer = replace(bundle.normalizer, dtype=str(np.dtype(data.dtype)))
    rician_sigma = prepared.rician_sigma(rician)
    torch_device = select_device(device)
    model = bundle.build(torch_device)
    amp = autocast_dtype(torch_device, bundle.config.mixed_precision)
    result = out if out is not None else prepared.allocate_output(cast_output)
    batch_size = batch_size or default_batch_size(torch_device)
    try:
        for first in range(0, len(prepared.slices), batch_size):
            block = prepared.slices[first : first + batch_size]
            block = predict_slices(model, block, torch_device, batch_size, tta=tta, amp_dtype=amp)
            prepared.write(result, first, block, cast_output, rician_sigma)
            if progress is not None:
                progress(min(first + batch_size, len(prepared.slices)), len(prepared.slices))
    finally:
        del model
        release_device_memory(torch_device)
    return result
