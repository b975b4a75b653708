"""The low-pass filter of Eq. 3: non-local means then a 3x3 median, per slice (paper sec. 3.2).

The expensive part of the weight masks: computed once per stack (``pipeline.lowpass``), after
which any threshold costs one comparison (``masks.matched``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import median_filter
from skimage.restoration import denoise_nl_means

from ..resources import available_cores
from ..stack import evenly_spaced
from ..tuned import CORRELATED_NOISE_RATIO
from .noise_estimates import estimate_inter_slice_sigma, estimate_stack_sigma
from .noise_model import MAX_FIT_SLICES, STABILIZE_MODES, PoissonGaussian, fit_poisson_gaussian


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
    inter_slice_sigma: bool = True  # False: the in-plane wavelet estimate alone

    def __post_init__(self) -> None:
        if self.stabilize not in STABILIZE_MODES:
            raise ValueError(f"stabilize must be one of {STABILIZE_MODES}, not {self.stabilize!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def lpf_noise_estimate(
    slices: np.ndarray,
    settings: LowpassSettings,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[float, bool]:
    """(sigma, correlated): the sigma the LPF's NLM is tuned with, and whether the noise was
    found correlated within slices. sigma is the in-plane (wavelet) estimate, or, with
    ``settings.inter_slice_sigma``, the inter-slice one where it is more than
    ``CORRELATED_NOISE_RATIO`` times larger: the signature of noise correlated within a slice
    (filtered back-projection CT), which the finest wavelet band under-reads."""
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

    workers = workers or available_cores()
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
