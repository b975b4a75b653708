"""Rician bias correction for magnitude MR images (an optional step after denoising).

A magnitude image M = |A + n1 + i n2|, n1, n2 ~ N(0, sigma^2), is Rician: its mean is above the
true signal A, most of all where A is small (an empty background has mean sigma sqrt(pi/2), not 0).
NS-N2N, like every denoiser that keeps the mean, estimates E[M], so that floor stays in its output.
``remove_rician_bias`` inverts the Rician mean, E[M | A, sigma] = denoised value -> A (values at or
below the floor give 0): the first-moment version of the moment-based corrections of magnitude
signals (Koay and Basser 2006); sqrt(max(m^2 - 2 sigma^2, 0)) is the common second-moment one.
``estimate_rician_sigma`` finds sigma blindly. Both work in the input's units: a Rician image
needs its true zero, so no min-max normalisation may sit in between.
"""

from __future__ import annotations

import numpy as np
from scipy.special import i0e, i1e

from ..errors import NSN2NError
from ..stack import PreparedStack, evenly_spaced
from ..tuned import RICIAN_EDGE, RICIAN_SNR

_GRID_END = 40.0  # beyond A = 40 sigma, E[M] = sqrt(A^2 + sigma^2) to better than 1e-4 sigma
_SNR_GRID = np.linspace(0.0, _GRID_END, 8001)


def rician_mean(signal: np.ndarray | float, sigma: float) -> np.ndarray:
    """E[M] for true signal ``signal`` >= 0 and Gaussian noise ``sigma`` per channel."""
    signal = np.asarray(signal, dtype=np.float64)
    x = signal**2 / (2.0 * sigma**2)
    # exponentially scaled Bessel functions: e^(-x/2) I_k(x/2) without overflow
    return sigma * np.sqrt(np.pi / 2) * ((1 + x) * i0e(x / 2) + x * i1e(x / 2))


_MEAN_GRID = rician_mean(_SNR_GRID, 1.0)
RICIAN_FLOOR = float(_MEAN_GRID[0])  # sqrt(pi / 2): E[M] of an empty background, in units of sigma


def remove_rician_bias(values: np.ndarray, sigma: float) -> np.ndarray:
    """The signal A whose Rician mean is ``values`` (a denoised magnitude image, input units), as
    float32; values at or below the floor ``sigma * sqrt(pi / 2)`` become 0."""
    if not sigma > 0:
        raise NSN2NError(f"Rician sigma must be > 0, got {sigma}")
    ratio = np.asarray(values, dtype=np.float64) / sigma
    out = np.interp(ratio, _MEAN_GRID, _SNR_GRID, left=0.0)
    high = ratio > _MEAN_GRID[-1]
    out[high] = np.sqrt(ratio[high] ** 2 - 1.0)
    return (out * sigma).astype(np.float32)


def _haar_bands(plane: np.ndarray) -> tuple[np.ndarray, ...]:
    """Block mean and the three finest Haar details of one 2D plane (2 x 2 blocks)."""
    h, w = plane.shape[0] // 2 * 2, plane.shape[1] // 2 * 2
    p = np.asarray(plane[:h, :w], dtype=np.float64)
    a, b, c, d = p[0::2, 0::2], p[0::2, 1::2], p[1::2, 0::2], p[1::2, 1::2]
    return (a + b + c + d) / 4, (a + b - c - d) / 2, (a - b + c - d) / 2, (a - b - c + d) / 2


def estimate_rician_sigma(
    slices: np.ndarray, snr: float = RICIAN_SNR, edge: float = RICIAN_EDGE, rounds: int = 4
) -> float:
    """Blind sigma of the Gaussian noise behind magnitude slices (M, H, W), input units.

    Donoho's MAD estimate on the finest diagonal Haar band, restricted to 2 x 2 blocks where the
    Rician noise is close to Gaussian (block mean > ``snr`` sigma) and that hold no edge (horizontal
    and vertical details < ``edge`` sigma), iterated from the estimate over all blocks.
    """
    if np.ndim(slices) != 3 or len(slices) == 0:
        raise NSN2NError("Rician sigma needs a stack of 2D slices (M, H, W)")
    bands = [_haar_bands(plane) for plane in slices]
    mean, hor, ver, diag = (np.concatenate([b[k].ravel() for b in bands]) for k in range(4))
    if np.nanmin(mean) < 0:
        raise NSN2NError("Rician correction needs magnitude data (no negative values)")
    sigma = float(np.median(np.abs(diag)) / 0.6745)
    for _ in range(rounds):
        if sigma <= 0:
            break
        keep = (mean > snr * sigma) & (np.abs(hor) < edge * sigma) & (np.abs(ver) < edge * sigma)
        if keep.sum() < 64:  # too little bright, flat signal to refine on
            break
        sigma = float(np.median(np.abs(diag[keep])) / 0.6745)
    if not sigma > 0:
        raise NSN2NError("could not estimate the Rician noise level (no noise in the data?)")
    return sigma


def rician_sigma_for(
    prepared: PreparedStack, rician: bool | float | str | None, max_slices: int = 32
) -> float | None:
    """The noise sigma (input units) for the bias correction of ``prepared``'s result: None when
    ``rician`` is off (False / None / 0), estimated on up to ``max_slices`` evenly spaced slices
    when it is True or "auto", else ``float(rician)``."""
    if rician is None or rician is False or (not isinstance(rician, str) and rician == 0):
        return None
    if prepared.normalizer.low < 0:
        raise NSN2NError("Rician correction needs magnitude data (the stack has negative values)")
    if rician is True or (isinstance(rician, str) and rician.lower() == "auto"):
        picks = evenly_spaced(len(prepared.slices), max_slices)
        return estimate_rician_sigma(prepared.slices_in_units(picks))
    sigma = float(rician)
    if not sigma > 0:
        raise NSN2NError(f"Rician sigma must be > 0, got {rician}")
    return sigma
