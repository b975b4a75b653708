"""Image quality against a clean reference (benchmarks, the demo, the tests): PSNR and SSIM, and
for small structures the contrast each insert keeps (``insert_contrast``) and the edge strength
kept (``edge_gain``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage


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


# ------------------------------------------------------------------------------------------------
# small structures: contrast of each insert, sharpness of edges
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InsertContrast:
    """One insert's contrast against its ring, in the clean and the tested image."""

    label: int
    voxels: int  # voxels of the insert
    ring_voxels: int  # voxels of its surrounding ring
    clean: float  # mean(insert) - mean(ring) in the clean image
    test: float  # the same in the tested image

    @property
    def recovered(self) -> float:
        """test / clean contrast: 1.0 keeps the insert's contrast, 0.0 erases it (NaN when the
        clean contrast is 0)."""
        return self.test / self.clean if self.clean != 0 else math.nan


def insert_rings(
    inserts: np.ndarray,
    tissues: np.ndarray | None = None,
    gap: int = 1,
    width: int = 3,
) -> dict[int, tuple[tuple[slice, ...], np.ndarray, np.ndarray]]:
    """For each insert label k: (box, insert mask, ring mask) within the box.

    ``inserts`` (and ``tissues``) are (Z, Y, X) labels. The ring is drawn in each slice (the slice
    plane, where an image is read and denoised): the pixels between ``gap`` and ``gap + width``
    pixels from the insert (a square neighbourhood grown one pixel at a time), excluding every
    insert, and, when ``tissues`` is given, only those of the insert's host tissue (the tissue
    label most of its voxels carry)."""
    inserts = np.asarray(inserts)
    grow = gap + width
    plane = ndimage.generate_binary_structure(2, 2)[None]  # 3 x 3 in-plane, one slice
    out = {}
    for index, found in enumerate(ndimage.find_objects(inserts)):
        if found is None:
            continue
        label = index + 1
        box = tuple(
            slice(max(s.start - (grow if axis else 0), 0), s.stop + (grow if axis else 0))
            for axis, s in enumerate(found)
        )
        local = inserts[box]
        insert = local == label
        near = ndimage.binary_dilation(insert, plane, iterations=gap) if gap else insert
        far = ndimage.binary_dilation(near, plane, iterations=width)
        ring = far & ~near & (local == 0)
        if tissues is not None:
            host_labels = np.asarray(tissues)[box]
            host = np.bincount(host_labels[insert].ravel()).argmax()
            ring &= host_labels == host
        out[label] = (box, insert, ring)
    return out


def insert_contrast(
    clean: np.ndarray,
    test: np.ndarray,
    inserts: np.ndarray,
    tissues: np.ndarray | None = None,
    gap: int = 1,
    width: int = 3,
    min_ring: int = 8,
    min_voxels: int = 4,
) -> list[InsertContrast]:
    """Contrast of every labelled insert against a ring of its surround, clean vs tested.

    ``inserts``: labels (0 = none, k = insert k) of the same shape as the images; the ring is
    described in :func:`insert_rings` (``tissues`` keeps it in the insert's host tissue).
    Contrast = mean over the insert's voxels minus mean over its ring's, in the clean and in the
    tested image; :attr:`InsertContrast.recovered` is their ratio (a denoiser that keeps the
    insert scores about 1, one that blurs it away 0). Inserts of fewer than ``min_voxels`` voxels
    (e.g. the tip of a vessel cut by the stack's edge) or whose ring has fewer than ``min_ring``
    are left out: their clean contrast is too small to divide by.
    """
    clean, test, _ = _compared(clean, test, 1.0)
    inserts = np.asarray(inserts)
    if inserts.shape != clean.shape:
        raise ValueError(f"inserts shape {inserts.shape} differs from the images' {clean.shape}")
    if clean.ndim == 2:  # one slice
        clean, test, inserts = clean[None], test[None], inserts[None]
        tissues = None if tissues is None else np.asarray(tissues)[None]
    results = []
    for label, (box, insert, ring) in insert_rings(inserts, tissues, gap, width).items():
        ring_voxels, voxels = int(ring.sum()), int(insert.sum())
        if ring_voxels < min_ring or voxels < min_voxels:
            continue
        c, t = clean[box], test[box]
        results.append(
            InsertContrast(
                label=label,
                voxels=voxels,
                ring_voxels=ring_voxels,
                clean=float(c[insert].mean() - c[ring].mean()),
                test=float(t[insert].mean() - t[ring].mean()),
            )
        )
    return results


def edge_gain(
    clean: np.ndarray,
    test: np.ndarray,
    sigma: float = 1.0,
    fraction: float = 0.1,
    mask: np.ndarray | None = None,
) -> float:
    """How much of the clean image's edge strength the tested image keeps (1.0 = all).

    In each slice, both images' gradients are taken with Gaussian derivatives of ``sigma``
    pixels; the edge pixels are the ``fraction`` of pixels (within ``mask``, if given) where the
    clean gradient is strongest. The gain is the least-squares slope of the tested gradient on the
    clean one over those pixels, sum(g_test . g_clean) / sum(|g_clean|^2): 1 for an identical
    copy, below 1 for a blurred one (a step blurred by ``b`` pixels keeps about
    sigma / sqrt(sigma^2 + b^2)), and unbiased by noise that is independent of the image.
    """
    clean, test, _ = _compared(clean, test, 1.0)
    if clean.ndim == 2:
        clean, test = clean[None], test[None]
        mask = None if mask is None else np.asarray(mask)[None]
    sigmas = (0.0, sigma, sigma)
    gradients = []
    for image in (clean, test):
        gy = ndimage.gaussian_filter(image, sigmas, order=(0, 1, 0), mode="nearest")
        gx = ndimage.gaussian_filter(image, sigmas, order=(0, 0, 1), mode="nearest")
        gradients.append((gy, gx))
    (cy, cx), (ty, tx) = gradients
    strength = cy * cy + cx * cx
    region = np.ones(clean.shape, bool) if mask is None else np.broadcast_to(mask, clean.shape)
    values = strength[region]
    if values.size == 0 or float(values.max()) == 0.0:
        return math.nan
    cut = np.quantile(values, 1.0 - fraction)
    edges = region & (strength >= cut) & (strength > 0)
    return float((ty[edges] * cy[edges] + tx[edges] * cx[edges]).sum() / strength[edges].sum())
