"""Structure kept: what the network removed but neighbouring slices agree on is put back.

Our addition to the paper (``keep_structure``; docs/method.md). Where W = 0 nothing in the loss
holds the output to the input, and where W = 1 the target is the neighbouring slice, so a network
that sees one slice smooths away small structure that changes between slices (a lesion a few
slices thick). Its residual r = x - f(x) is then noise plus that structure. The noise is
independent across slices (NS-N2N's own assumption) and the structure is not, so

    g = G_sigma * mean_3(r)        (mean over the slice and its two neighbours, Gaussian in-plane)
    s = 1.4826 median(|g - median(g)|)                    (robust noise level of g)
    out = f(x) + clip(|g| / (k s) - 1, 0, 1) mean_3(r)

puts back the 3-slice mean residual where g stands k to 2k noise levels out of the noise, fully
above 2k, and nothing elsewhere. Works slice by slice (three slices of each stack at a time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from scipy import ndimage

from ..tuned import STRUCTURE_GATE_K, STRUCTURE_GATE_SIGMA_PX

SLICES_FOR_NOISE_LEVEL = 24  # slices, evenly spaced, whose g sets the noise level s

SliceSource = Callable[[int], np.ndarray]


def _residual(noisy: SliceSource, denoised: SliceSource, index: int) -> np.ndarray:
    return np.asarray(noisy(index), np.float32) - np.asarray(denoised(index), np.float32)


def _window(index: int, count: int) -> range:
    """Slice ``index`` and its neighbours (two slices at the ends of the stack)."""
    return range(max(index - 1, 0), min(index + 2, count))


def _mean_residual(noisy: SliceSource, denoised: SliceSource, index: int, count: int) -> np.ndarray:
    return np.mean([_residual(noisy, denoised, k) for k in _window(index, count)], axis=0)


def _gate_field(mean_residual: np.ndarray, sigma_px: float) -> np.ndarray:
    return ndimage.gaussian_filter(mean_residual, sigma_px)


def robust_level(field: np.ndarray) -> float:
    """1.4826 x the median absolute deviation: the noise's standard deviation, structure aside."""
    return float(1.4826 * np.median(np.abs(field - np.median(field))))


def noise_level(
    noisy: SliceSource,
    denoised: SliceSource,
    count: int,
    sigma_px: float = STRUCTURE_GATE_SIGMA_PX,
) -> float:
    """The robust level s of the gate field g on up to ``SLICES_FOR_NOISE_LEVEL`` slices."""
    picks = np.unique(np.linspace(0, count - 1, min(count, SLICES_FOR_NOISE_LEVEL)).round())
    fields = [
        _gate_field(_mean_residual(noisy, denoised, int(k), count), sigma_px).ravel() for k in picks
    ]
    return robust_level(np.concatenate(fields))


def kept_structure(
    noisy: SliceSource,
    denoised: SliceSource,
    count: int,
    k: float = STRUCTURE_GATE_K,
    sigma_px: float = STRUCTURE_GATE_SIGMA_PX,
) -> Iterator[np.ndarray]:
    """Yield, for slice 0 .. count - 1, what to add to the denoised slice (float32).

    ``noisy(i)`` / ``denoised(i)`` return slice i of the input and of the network's output on
    the same scale. Fewer than two slices, or no noise in the residual: zeros."""
    level = noise_level(noisy, denoised, count, sigma_px) if count >= 2 else 0.0
    if level <= 0:  # one slice, or a residual without noise: nothing stands out
        for index in range(count):
            yield np.zeros_like(np.asarray(denoised(index), np.float32))
        return
    residuals: dict[int, np.ndarray] = {}  # the window's residuals, each slice read once
    for index in range(count):
        for near in _window(index, count):
            if near not in residuals:
                residuals[near] = _residual(noisy, denoised, near)
        residuals.pop(index - 2, None)
        mean_r = np.mean(list(residuals.values()), axis=0)
        g = _gate_field(mean_r, sigma_px)
        weight = np.clip(np.abs(g) / (k * level) - 1.0, 0.0, 1.0)
        yield (weight * mean_r).astype(np.float32)


def keep_structure(noisy: np.ndarray, denoised: np.ndarray, **kwargs) -> np.ndarray:
    """The denoised stack (Z, H, W) with the structure of :func:`kept_structure` put back."""
    noisy, denoised = np.asarray(noisy), np.asarray(denoised)
    out = np.array(denoised, np.float32)
    for index, add in enumerate(
        kept_structure(noisy.__getitem__, denoised.__getitem__, len(denoised), **kwargs)
    ):
        out[index] += add
    return out
