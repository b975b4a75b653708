"""Image quality against a clean reference: PSNR and SSIM (benchmarks, the demo, the tests)."""

from __future__ import annotations

import math

import numpy as np


def psnr(
    clean: np.ndarray,
    test: np.ndarray,
    data_range: float | None = None,
    mask: np.ndarray | None = None,
) -> float:
    """PSNR in dB; ``data_range`` defaults to the range of ``clean``; optional boolean ``mask``."""
    clean, test, data_range = _compared(clean, test, data_range)
    diff = clean - test
    if mask is not None:
        diff = diff[np.broadcast_to(np.asarray(mask, dtype=bool), diff.shape)]
    mse = float(np.mean(diff**2))
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def ssim_per_slice(
    clean: np.ndarray, test: np.ndarray, data_range: float | None = None
) -> np.ndarray:
    """SSIM of each z-slice (skimage defaults); ``data_range`` defaults to ``clean``'s range."""
    from skimage.metrics import structural_similarity

    clean, test, data_range = _compared(clean, test, data_range)
    return np.array(
        [
            structural_similarity(c, t, data_range=data_range)
            for c, t in zip(clean, test, strict=True)
        ]
    )


def _compared(
    clean: np.ndarray, test: np.ndarray, data_range: float | None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Both images as float64 of one shape, and the data range (default: ``clean``'s)."""
    clean = np.asarray(clean, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    if clean.shape != test.shape:
        raise ValueError(f"shape mismatch: {clean.shape} vs {test.shape}")
    if data_range is None:
        data_range = float(clean.max() - clean.min())
    return clean, test, data_range
