"""A pair of neighbouring slices of the training stack kept with a model, for its package.

A bioimage.io package carries test tensors and a cover image from the training data; a model
file carries no stack, so a run stores the central crop of its middle pair (input units) and that
pair's weight mask W_i here. Models saved without one are given a stack at export
(:func:`sample_from_stack`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..method.lowpass import LowpassSettings, choose_stabilizer, lowpass_slice, lpf_noise_estimate
from ..method.masks import weight_masks
from ..stack import PreparedStack

SAMPLE_MAX_SIDE = 512  # the crop's side at most: a cover-sized view, ~2 MB in a model file


@dataclass(frozen=True)
class TrainingSample:
    """``slices``: slices i and i + 1 (float32, input units, (2, h, w)); ``mask``: W_i of the
    run's threshold (uint8, (h, w)), None for a run without masks; ``index``: i in the (M, H, W)
    stack."""

    slices: np.ndarray
    mask: np.ndarray | None
    index: int

    def to_payload(self) -> dict[str, Any]:
        mask = None if self.mask is None else torch.from_numpy(np.ascontiguousarray(self.mask))
        return {
            "slices": torch.from_numpy(np.ascontiguousarray(self.slices, dtype=np.float32)),
            "mask": mask,
            "index": self.index,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any] | None) -> TrainingSample | None:
        if payload is None:
            return None
        mask = payload.get("mask")
        return cls(
            slices=payload["slices"].numpy().astype(np.float32),
            mask=None if mask is None else mask.numpy().astype(np.uint8),
            index=int(payload["index"]),
        )


def central_crop(shape: Sequence[int], side: int, multiple: int = 1) -> tuple[slice, slice]:
    """The central (y, x) window of at most ``side`` pixels, each a multiple of ``multiple``."""
    window = []
    for size in shape[-2:]:
        length = max(multiple, (min(size, side) // multiple) * multiple)
        start = (size - length) // 2
        window.append(slice(start, start + length))
    return window[0], window[1]


def middle_pair(prepared: PreparedStack) -> int:
    """The first slice of the pair in the middle of the stack (of its middle volume)."""
    starts = prepared.layout.pair_starts()
    return int(starts[len(starts) // 2])


def training_sample(prepared: PreparedStack, masks: Sequence[np.ndarray] | None) -> TrainingSample:
    """The middle pair of a training run's stack, cropped, with its W_i from ``masks`` (one per
    pair, as the run trained with) or None."""
    index = middle_pair(prepared)
    window = central_crop(prepared.slices.shape, SAMPLE_MAX_SIDE)
    pair = prepared.slices[index : index + 2][(slice(None), *window)]
    mask = None
    if masks is not None:
        pair_number = int(np.searchsorted(prepared.layout.pair_starts(), index))
        mask = np.asarray(masks[pair_number])[window].astype(np.uint8)
    return TrainingSample(prepared.normalizer.inverse(pair), mask, index)


def sample_from_stack(
    prepared: PreparedStack,
    threshold: float | None,
    settings: LowpassSettings | None = None,
) -> TrainingSample:
    """The middle pair of ``prepared`` (normalised as the model's training stack was) with W_i
    computed for ``threshold``: the LPF of both slices with the noise estimate and variance
    stabilisation the LPF stage chooses for this stack (``settings``, default the defaults)."""
    settings = settings or LowpassSettings()
    index = middle_pair(prepared)
    window = central_crop(prepared.slices.shape, SAMPLE_MAX_SIDE)
    pair = prepared.slices[index : index + 2]
    mask = None
    if threshold is not None:
        stabilizer = choose_stabilizer(prepared.slices, settings)
        transform = None if stabilizer is None else stabilizer.stabilize
        sigma, _ = lpf_noise_estimate(prepared.slices, settings, transform)
        filtered = [
            lowpass_slice(image if transform is None else transform(image), sigma, settings)
            for image in pair
        ]
        mask = weight_masks(np.abs(filtered[0] - filtered[1]), threshold)[window]
    cropped = pair[(slice(None), *window)]
    return TrainingSample(prepared.normalizer.inverse(cropped), mask, index)
