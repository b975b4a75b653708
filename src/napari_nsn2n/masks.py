"""Weight masks W_i of Eq. 3: LPF = non-local means then a 3x3 median, per slice.

    W_i(u, v) = 1  if |LPF(x_i) - LPF(x_{i+1})|(u, v) <= th  else 0

The expensive part (the LPF) is computed once per stack; ``lpf_differences`` keeps
|LPF_i - LPF_{i+1}| so that a new threshold costs one comparison.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import median_filter
from skimage.restoration import denoise_nl_means

from .noise_model import MAX_FIT_SLICES, STABILIZE_MODES, PoissonGaussian, fit_poisson_gaussian
from .threshold import HALF_NORMAL_MEDIAN


@dataclass(frozen=True)
class LowpassSettings:
    """Non-local means (Buades et al.) then a median filter, as in the paper (sec. 3.2).

    ``h_factor`` scales the noise sigma estimated once for the whole stack (so that every slice is
    filtered with the same strength and differences between slices are not filter artefacts).
    With ``inter_slice_sigma`` the estimate from neighbouring-slice differences
    (``estimate_inter_slice_sigma``) replaces the in-plane (wavelet) one where it is clearly larger
    (``lpf_noise_sigma``): it also sees noise that is correlated within a slice (e.g. filtered
    back-projection), as NS-N2N assumes the noise independent across slices.
    """

    patch_size: int = 5
    patch_distance: int = 6
    h_factor: float = 1.0
    median_size: int = 3
    fast_mode: bool = True
    stabilize: str = "auto"  # "auto" | "on" | "off": Anscombe before the LPF (noise_model.py)
    inter_slice_sigma: bool = True  # False: the in-plane wavelet estimate alone (as before)

    def __post_init__(self) -> None:
        if self.stabilize not in STABILIZE_MODES:
            raise ValueError(f"stabilize must be one of {STABILIZE_MODES}, not {self.stabilize!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def default_workers() -> int:
    return max(
        1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )


def estimate_noise_sigma(image: np.ndarray) -> float:
    """Donoho's robust noise estimate: median |HH| / 0.6745 of the finest Haar wavelet band."""
    x = np.asarray(image, dtype=np.float32)
    x = x[: x.shape[0] // 2 * 2, : x.shape[1] // 2 * 2]
    diagonal = (x[0::2, 0::2] - x[0::2, 1::2] - x[1::2, 0::2] + x[1::2, 1::2]) * 0.5
    return float(np.median(np.abs(diagonal)) / HALF_NORMAL_MEDIAN)


def evenly_spaced(count: int, at_most: int) -> np.ndarray:
    """Up to ``at_most`` evenly spaced indices of ``count``."""
    return np.unique(np.linspace(0, count - 1, min(at_most, count)).astype(int))


def estimate_stack_sigma(
    slices: np.ndarray,
    max_slices: int = 16,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> float:
    """Median of per-slice wavelet noise estimates over up to ``max_slices`` evenly spaced slices
    (each passed through ``transform`` first, if given)."""
    transform = transform or np.asarray
    picks = evenly_spaced(len(slices), max_slices)
    return float(np.median([estimate_noise_sigma(transform(slices[i])) for i in picks]))


def estimate_inter_slice_sigma(
    slices: np.ndarray,
    max_pairs: int = 16,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> float:
    """Per-slice noise sigma from neighbouring-slice differences: the median over up to
    ``max_pairs`` evenly spaced pairs of MAD(x_i - x_{i+1}) / 0.6745 / sqrt(2), exact zeros left
    out (constant regions such as the air outside a CT field of view). Noise independent across
    slices makes x_i - x_{i+1} noise of variance 2 sigma^2 plus the (sparse) structural change,
    whatever the noise's in-plane correlation. 0.0 for a single slice."""
    if len(slices) < 2:
        return 0.0
    transform = transform or np.asarray
    values = []
    for i in evenly_spaced(len(slices) - 1, max_pairs):
        a = np.asarray(transform(slices[i]), dtype=np.float32)
        b = np.asarray(transform(slices[i + 1]), dtype=np.float32)
        d = (a - b).ravel()
        d = np.abs(d[d != 0])
        if d.size:
            values.append(float(np.median(d)) / HALF_NORMAL_MEDIAN / math.sqrt(2.0))
    return float(np.median(values)) if values else 0.0


CORRELATED_NOISE_RATIO = 1.5


def lpf_noise_estimate(
    slices: np.ndarray,
    settings: LowpassSettings,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[float, bool]:
    """(sigma, correlated): the sigma the LPF's NLM is tuned with, and whether the noise was
    found correlated within slices. sigma is the in-plane (wavelet) estimate, or, with
    ``settings.inter_slice_sigma``, the inter-slice one where it is more than
    ``CORRELATED_NOISE_RATIO`` times larger: the signature of noise correlated within a slice,
    which the finest wavelet band under-reads (filtered back-projection CT: 1.8x with a ramp
    filter, 3.3x with Hann; white, Rician and stabilised Poisson noise: 1.0-1.2x)."""
    sigma = estimate_stack_sigma(slices, transform=transform)
    if settings.inter_slice_sigma:
        inter = estimate_inter_slice_sigma(slices, transform=transform)
        if inter > CORRELATED_NOISE_RATIO * sigma:
            return inter, True
    return sigma, False


def lpf_noise_sigma(
    slices: np.ndarray,
    settings: LowpassSettings,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> float:
    """The sigma of ``lpf_noise_estimate``."""
    return lpf_noise_estimate(slices, settings, transform)[0]


def lowpass_slice(image: np.ndarray, sigma: float, settings: LowpassSettings) -> np.ndarray:
    """LPF of one normalised 2D slice: NLM with h = h_factor * sigma, then a median filter."""
    image = np.asarray(image, dtype=np.float32)
    smoothed = denoise_nl_means(
        image,
        patch_size=settings.patch_size,
        patch_distance=settings.patch_distance,
        h=max(settings.h_factor * sigma, 1e-6),
        sigma=sigma if settings.fast_mode else 0.0,
        fast_mode=settings.fast_mode,
        preserve_range=True,
    )
    if settings.median_size > 1:
        smoothed = median_filter(smoothed, size=settings.median_size, mode="reflect")
    return smoothed.astype(np.float32, copy=False)


def choose_stabilizer(
    slices: np.ndarray, settings: LowpassSettings | None = None
) -> PoissonGaussian | None:
    """The Poisson-Gaussian fit to stabilise the LPF input with, or None (``settings.stabilize``:
    "off" never, "on" whenever the fit has a > 0, "auto" when the noise is signal-dependent)."""
    settings = settings or LowpassSettings()
    if settings.stabilize == "off":
        return None
    picks = evenly_spaced(len(slices), MAX_FIT_SLICES)
    images = [np.asarray(slices[i], dtype=np.float32) for i in picks]
    sigma = estimate_stack_sigma(images, max_slices=len(images))
    fit = fit_poisson_gaussian(images, [lowpass_slice(image, sigma, settings) for image in images])
    wanted = fit.a > 0 if settings.stabilize == "on" else fit.signal_dependent
    return fit if wanted else None


def iter_lowpass(
    slices: np.ndarray,
    settings: LowpassSettings | None = None,
    sigma: float | None = None,
    workers: int | None = None,
    stabilizer: PoissonGaussian | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (index, LPF slice) in order, computed on ``workers`` threads (NLM releases the GIL).

    With a ``stabilizer`` each slice is variance-stabilised before the LPF (sigma then estimated
    on the stabilised slices)."""
    settings = settings or LowpassSettings()

    transform = None if stabilizer is None else stabilizer.stabilize
    if sigma is None:
        sigma = lpf_noise_sigma(slices, settings, transform)

    def filtered(i: int) -> np.ndarray:
        image = slices[i]
        return lowpass_slice(image if transform is None else transform(image), sigma, settings)

    workers = workers or default_workers()
    if workers == 1:
        for i in range(len(slices)):
            yield i, filtered(i)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        window = 2 * workers
        pending = {}
        next_submit = 0
        for i in range(len(slices)):
            while next_submit < len(slices) and next_submit < i + window:
                pending[next_submit] = pool.submit(filtered, next_submit)
                next_submit += 1
            yield i, pending.pop(i).result()


def lpf_differences(lpf: np.ndarray, pair_starts: np.ndarray | None = None) -> np.ndarray:
    """|LPF_i - LPF_{i+1}| for each pair start i (default: every i < M - 1), float32 (P, H, W)."""
    starts = np.arange(len(lpf) - 1) if pair_starts is None else np.asarray(pair_starts)
    out = np.empty((len(starts), *lpf.shape[1:]), dtype=np.float32)
    for k, i in enumerate(starts):
        np.abs(np.subtract(lpf[i], lpf[i + 1], dtype=np.float32), out=out[k])
    return out


def weight_masks(differences: np.ndarray, threshold: float) -> np.ndarray:
    """W = (differences <= threshold) as uint8 (1 = matched region, used by L_recon and L_RC)."""
    return (differences <= np.float32(threshold)).view(np.uint8)


def matched_fraction(differences: np.ndarray, threshold: float) -> float:
    """Fraction of pixels with W = 1."""
    return float(np.count_nonzero(differences <= np.float32(threshold)) / max(differences.size, 1))
