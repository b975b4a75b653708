"""The residual of a result: what the denoiser removed (noisy - denoised), for a user to check
that it holds noise only and no structure (an insert or an edge showing in it was smoothed away)."""

from __future__ import annotations

from typing import Any

import numpy as np

SLICES_PER_BLOCK = 16  # a stack on disk (a memmap) is read this many leading-axis slices at a time


def residual(noisy: Any, denoised: Any) -> np.ndarray:
    """``noisy - denoised`` in float32, in the input's units and layout. Computed in blocks
    along the first axis so that a memory-mapped input is never copied whole into float32."""
    noisy_shape, denoised_shape = np.shape(noisy), np.shape(denoised)
    if noisy_shape != denoised_shape:
        raise ValueError(f"shapes differ: noisy {noisy_shape}, denoised {denoised_shape}")
    out = np.empty(noisy_shape, dtype=np.float32)
    for first in range(0, noisy_shape[0] if noisy_shape else 1, SLICES_PER_BLOCK):
        block = slice(first, first + SLICES_PER_BLOCK)
        np.subtract(
            np.asarray(noisy[block], dtype=np.float32),
            np.asarray(denoised[block], dtype=np.float32),
            out=out[block],
        )
    return out
