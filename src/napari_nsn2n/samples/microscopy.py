"""Fluorescence-like stack: nuclei and filaments under an elongated PSF, Poisson-Gaussian noise."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .base import LICENCE, SampleStack, camera_threshold
from .phantom import smooth_field

TISSUES = ("background", "nucleus")


def _fluorescence_volume(
    shape: tuple[int, int, int], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nuclei (textured ellipsoids) and thin curved filaments, blurred by an elongated PSF; with
    the nuclei's labels and the filaments' (each filament one insert: its path grown by one
    voxel, about the width the PSF gives it)."""
    nz, ny, nx = shape
    vol = np.zeros(shape, np.float32)
    tissues = np.zeros(shape, np.uint8)
    scale = max(ny, nx) / 256.0
    texture = 0.75 + 0.25 * smooth_field(shape, rng, cells=32)
    n_nuclei = max(4, round(30 * ny * nx / 256**2))
    for _ in range(n_nuclei):
        r = np.array([rng.uniform(4.0, 8.0) * nz / 32, *(rng.uniform(10, 22, 2) * scale)])
        c = rng.uniform([0, 0, 0], shape)
        half = np.array([r[0], r[1:].max(), r[1:].max()])  # box holding the rotated ellipse
        lo = np.maximum(np.floor(c - half).astype(int), 0)
        hi = np.minimum(np.ceil(c + half).astype(int) + 1, shape)
        if np.any(hi <= lo):
            continue
        zz, yy, xx = np.ogrid[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        phi = rng.uniform(0, np.pi)
        dy, dx = yy - c[1], xx - c[2]
        q = ((zz - c[0]) / r[0]) ** 2 + ((dy * np.cos(phi) + dx * np.sin(phi)) / r[1]) ** 2
        q = q + ((dx * np.cos(phi) - dy * np.sin(phi)) / r[2]) ** 2
        box = vol[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        box[:] = np.maximum(box, np.where(q <= 1, rng.uniform(0.35, 0.7), 0).astype(np.float32))
        tissues[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]][q <= 1] = 1
    vol *= texture
    points = []
    owner = []
    for filament in range(max(3, round(16 * scale))):  # filaments: smooth 3D random walks
        pos = rng.uniform([0, 0, 0], shape)
        direction = rng.standard_normal(3) * np.array([0.1, 1, 1])
        for _ in range(int(500 * scale)):
            direction = direction + rng.standard_normal(3) * np.array([0.005, 0.06, 0.06])
            direction /= np.linalg.norm(direction)
            pos = pos + 0.7 * direction
            points.append(pos)
            owner.append(filament + 1)
    idx = np.round(np.array(points)).astype(int)
    keep = np.all((idx >= 0) & (idx < np.array(shape)), axis=1)
    paths = np.zeros(shape, np.uint16)
    paths[tuple(idx[keep].T)] = np.array(owner, np.uint16)[keep]
    inserts = ndimage.grey_dilation(paths, size=(3, 3, 3))
    fil = np.zeros(shape, np.float32)
    fil[tuple(idx[keep].T)] = 1.0
    psf = (1.2, 1.0, 1.0)  # elongated along z: optical sectioning
    fil = ndimage.gaussian_filter(fil, sigma=psf, mode="constant")
    fil /= max(float(np.percentile(fil[fil > 0.01], 99)), 1e-6) if np.any(fil > 0.01) else 1.0
    vol = ndimage.gaussian_filter(vol, sigma=psf, mode="constant") + 0.9 * np.minimum(fil, 1.2)
    return (vol / max(float(vol.max()), 1e-6)).astype(np.float32), tissues, inserts


def microscopy_stack(
    shape: tuple[int, int, int] = (32, 256, 256),
    photons: float = 60.0,
    read_noise: float = 2.0,
    seed: int = 0,
    offset: float = 100.0,
    background: float = 0.03,
) -> SampleStack:
    """Fluorescence-like stack with Poisson-Gaussian camera noise, as ``uint16`` counts.

    ``noisy = offset + Poisson(photons * (clean_rel + background)) + N(0, read_noise^2)``, rounded
    and clipped to uint16; ``clean`` (float32, counts) is its expectation. ``inserts`` labels the
    filaments (one insert each), ``tissues`` the nuclei.
    """
    shape = tuple(int(s) for s in shape)
    if photons <= 0 or read_noise < 0:
        raise ValueError("photons must be > 0 and read_noise >= 0")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 3]))
    volume, tissues, inserts = _fluorescence_volume(shape, rng)
    rate = photons * (volume + background)
    clean = (offset + rate).astype(np.float32)
    noisy = offset + rng.poisson(rate) + rng.normal(0.0, read_noise, shape)
    noisy = np.clip(np.round(noisy), 0, 65535).astype(np.uint16)
    description = (
        f"Synthetic fluorescence stack: textured nuclei and thin filaments blurred by an elongated "
        f"Gaussian PSF (optical sectioning), {photons:g} photons at the brightest voxel plus "
        f"{background:g} relative background; Poisson shot noise plus Gaussian read noise "
        f"(sigma {read_noise:g} counts) on a camera offset of {offset:g}, as uint16 counts. "
        f"{LICENCE}"
    )
    return SampleStack(
        noisy=noisy,
        clean=clean,
        spacing=(0.5, 0.2, 0.2),
        name=f"Fluorescence-like stack (Poisson-Gaussian, {photons:g} photons)",
        description=description,
        units="counts",
        suggested_threshold=camera_threshold(photons, read_noise, background),
        inserts=inserts,
        insert_names=("filament",) * int(inserts.max()),
        tissues=tissues,
        tissue_names=TISSUES,
    )
