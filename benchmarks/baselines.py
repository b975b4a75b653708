"""Blind baselines for benchmarks/quality.py (not part of the package).

* ``gaussian``: Gaussian filter whose width follows the estimated noise level (rule below).
* ``nlm``: scikit-image non-local means, sigma estimated from the data.
* ``bm3d_stack``: BM3D per slice (PyPI ``bm3d``), sigma estimated from the data; ``sigma_psd`` is
  passed as a float (the spectrum path of bm3d 4.0.3 calls ``np.trapz``, gone in numpy 2.4).
* ``bm3d_vst``: for Poisson-Gaussian noise, BM3D between a generalised Anscombe transform and its
  asymptotically unbiased inverse (Makitalo & Foi 2013), the noise parameters fitted blind
  (``napari_nsn2n.noise_model``: LPF residual variance against level).
* ``neighbor2neighbor``: Huang et al., CVPR 2021 - random neighbour sub-sampler pairs
  (g1(y), g2(y)) and the regulariser ||f(g1 y) - g2 y - (g1 f(y) - g2 f(y))||^2, trained on the
  stack's slices with the same U-Net (``napari_nsn2n.model.UNet``) and step budget as NS-N2N.

All work on a min-max normalised (M, H, W) float32 stack in [0, 1] and never see the clean reference.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from skimage.restoration import denoise_nl_means

from napari_nsn2n.method.noise_estimates import estimate_noise_sigma
from napari_nsn2n.method.unet import UNet


def noise_sigma(slices: np.ndarray) -> float:
    """Median over slices of Donoho's wavelet MAD estimate (finest diagonal Haar band).

    For white noise this is unbiased; for the FBP-correlated CT noise it sees only the noise's
    high-frequency part and so under-estimates the noise standard deviation (documented in
    docs/benchmarks.md) - an inherent limit of blind estimators that assume white noise.
    """
    return float(np.median([estimate_noise_sigma(s) for s in slices]))


def gaussian_sigma_px(noise: float) -> float:
    """Blind width rule: sigma_px = clip(25 * noise, 0.5, 3) with noise on the [0, 1] scale
    (0.02 -> 0.5 px, 0.05 -> 1.25 px, 0.09 -> 2.25 px), fixed once for all cases."""
    return float(np.clip(25.0 * noise, 0.5, 3.0))


def gaussian(slices: np.ndarray, noise: float) -> np.ndarray:
    s = gaussian_sigma_px(noise)
    return ndimage.gaussian_filter(slices, sigma=(0, s, s)).astype(np.float32)


def nlm(slices: np.ndarray, noise: float) -> np.ndarray:
    """Per-slice NLM, h = 0.8 sigma (scikit-image's recommendation with fast_mode and sigma)."""
    return np.stack(
        [
            denoise_nl_means(
                s,
                patch_size=5,
                patch_distance=6,
                h=0.8 * noise,
                sigma=noise,
                fast_mode=True,
                preserve_range=True,
            )
            for s in slices
        ]
    ).astype(np.float32)


def bm3d_stack(slices: np.ndarray, noise: float) -> np.ndarray:
    import bm3d

    return np.stack([bm3d.bm3d(s, sigma_psd=float(noise)) for s in slices]).astype(np.float32)


def bm3d_vst(slices: np.ndarray) -> np.ndarray:
    """BM3D in the variance-stabilised domain (unit noise std), then back: the standard recipe for
    photon-limited data. Noise parameters from the same blind fit the NS-N2N masks use."""
    from napari_nsn2n.method.lowpass import LowpassSettings, choose_stabilizer

    fit = choose_stabilizer(slices, LowpassSettings(stabilize="on"))
    if fit is None:  # no positive slope: plain BM3D
        return bm3d_stack(slices, noise_sigma(slices))
    import bm3d

    u = fit.stabilize(slices) / np.float32(fit.std(fit.median_level))  # (2/a) sqrt(...): std ~ 1
    denoised = np.stack([bm3d.bm3d(s, sigma_psd=1.0) for s in u])
    # asymptotically unbiased inverse: E[u]^2 / 4 - 1/8 instead of the algebraic - 3/8
    return (fit.a * (denoised**2 / 4.0 - 0.125) - fit.c / fit.a).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# Neighbor2Neighbor
# ------------------------------------------------------------------------------------------------

# The 4 pixels of a 2x2 cell and, for each, its horizontal / vertical neighbours in the cell.
_NEIGHBOURS = {0: (1, 2), 1: (0, 3), 2: (0, 3), 3: (1, 2)}


def subsample_pair(x: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """g1(x), g2(x): in every 2x2 cell pick a random pixel and one of its two neighbours."""
    n, c, h, w = x.shape
    cells = x[..., : h // 2 * 2, : w // 2 * 2].unfold(2, 2, 2).unfold(3, 2, 2)  # n c h/2 w/2 2 2
    cells = cells.reshape(n, c, h // 2, w // 2, 4)
    first = torch.randint(0, 4, (n, 1, h // 2, w // 2, 1), generator=gen)
    table = torch.tensor([_NEIGHBOURS[k] for k in range(4)])
    choice = torch.randint(0, 2, first.shape, generator=gen)
    second = table[first.squeeze(-1), choice.squeeze(-1)].unsqueeze(-1)
    g1 = torch.gather(cells, -1, first.expand(n, c, -1, -1, -1)).squeeze(-1)
    g2 = torch.gather(cells, -1, second.expand(n, c, -1, -1, -1)).squeeze(-1)
    return g1, g2, (first, second)


def _subsample_with(x: torch.Tensor, picks) -> tuple[torch.Tensor, torch.Tensor]:
    n, c, h, w = x.shape
    cells = x[..., : h // 2 * 2, : w // 2 * 2].unfold(2, 2, 2).unfold(3, 2, 2)
    cells = cells.reshape(n, c, h // 2, w // 2, 4)
    first, second = picks
    g1 = torch.gather(cells, -1, first.expand(n, c, -1, -1, -1)).squeeze(-1)
    g2 = torch.gather(cells, -1, second.expand(n, c, -1, -1, -1)).squeeze(-1)
    return g1, g2


def neighbor2neighbor(
    slices: np.ndarray,
    steps: int = 200,
    batch_size: int = 8,
    patch: int = 128,
    base_channels: int = 16,
    depth: int = 3,
    lr: float = 1e-3,
    gamma: float = 2.0,
    seed: int = 0,
    threads: int | None = None,
) -> np.ndarray:
    """Train Neighbor2Neighbor on the slices of one stack and return them denoised.

    ``patch`` px crops give ``patch / 2`` px sub-images, the size NS-N2N trains on in the
    benchmark (64), so a step costs about the same; lr halves every fifth of the run (as ours);
    the regulariser weight ramps linearly to ``gamma`` (NB2NB's schedule, gamma = 2 there).
    """
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    model = UNet(base_channels, depth)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    m, h, w = slices.shape
    ph, pw = min(patch, h) // 2 * 2, min(patch, w) // 2 * 2
    model.train()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 ** (step // max(1, steps // 5))
        idx = rng.integers(0, m, batch_size)
        tops, lefts = (
            rng.integers(0, h - ph + 1, batch_size),
            rng.integers(0, w - pw + 1, batch_size),
        )
        batch = np.stack(
            [slices[i, t : t + ph, c : c + pw] for i, t, c in zip(idx, tops, lefts, strict=True)]
        )
        x = torch.from_numpy(np.ascontiguousarray(batch, np.float32))[:, None]
        turns, flip = int(rng.integers(4)), bool(rng.integers(2))
        x = torch.rot90(x.flip(-1) if flip else x, turns, dims=(-2, -1))
        g1, g2, picks = subsample_pair(x, gen)
        with torch.no_grad():
            fx = model(x)
        f1, f2 = _subsample_with(fx, picks)
        out = model(g1)
        weight = gamma * step / max(1, steps - 1)
        loss = torch.mean((out - g2) ** 2) + weight * torch.mean((out - g2 - (f1 - f2)) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    result = np.empty_like(slices, dtype=np.float32)
    with torch.no_grad():
        for first in range(0, m, 8):
            x = torch.from_numpy(np.ascontiguousarray(slices[first : first + 8], np.float32))
            result[first : first + 8] = model(x[:, None])[:, 0].numpy()
    return result
