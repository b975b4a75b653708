"""Fluorescence stack of a packed cell cluster: membranes, textured nuclei with nucleoli and
chromatin foci, granular cytoplasm and small puncta, imaged through an elongated Gaussian PSF with
Poisson-Gaussian camera noise, as uint16 counts (µm).

Cells are the Voronoi cells of seeds spaced like a tissue (curved by a smooth displacement of the
space), so membranes are the planes where two seeds are equally near; each cell holds a nucleus.
The puncta (vesicles in the cytoplasm, foci in the nuclei) are the numbered inserts.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .base import LICENCE, SampleStack, camera_threshold
from .shapes import Canvas, Grid, fine_texture, random_field

SPACING_UM = (0.4, 0.16, 0.16)
CELL_UM = 11.0  # typical distance between neighbouring cells' centres
PSF_SIGMA_UM = (0.38, 0.12, 0.12)  # confocal-like: FWHM about 0.9 µm axially, 0.28 µm laterally
TISSUES = ("background", "membrane", "cytoplasm", "nucleus", "nucleolus")
BRIGHTNESS = {"membrane": 0.5, "cytoplasm": 0.1, "nucleus": 0.55, "nucleolus": 0.22}


def _seeds(grid: Grid, rng: np.random.Generator) -> np.ndarray:
    """Cell centres (µm, z y x) by dart throwing with a minimum distance, over the stack and a
    margin around it, so that cells are cut by the borders like in a real field of view."""
    extent = np.array(grid.shape) * np.array(grid.spacing)
    low = -extent / 2 - CELL_UM / 2
    high = extent / 2 + CELL_UM / 2
    low[0], high[0] = grid.z[-1] - CELL_UM / 2, grid.z[0] + CELL_UM / 2
    volume = float(np.prod(high - low))
    wanted = int(1.3 * volume / CELL_UM**3)
    seeds: list[np.ndarray] = []
    for _ in range(40 * wanted):
        p = rng.uniform(low, high)
        if all(np.sum((p - q) ** 2) > (0.8 * CELL_UM) ** 2 for q in seeds):
            seeds.append(p)
        if len(seeds) >= wanted:
            break
    return np.array(seeds)


def _voronoi(grid: Grid, seeds: np.ndarray, rng: np.random.Generator):
    """Nearest seed (cell id) and distance (µm) to the nearest membrane, per voxel, in a space
    curved by a smooth displacement field."""
    shape = grid.shape
    # mostly in-plane: a membrane nearly parallel to the slices would otherwise undulate through
    # them and show as contour lines
    warp = [a * random_field(shape, grid.spacing, 8.0, rng) for a in (0.3, 1.0, 1.0)]
    cell = np.empty(shape, np.int32)
    to_membrane = np.empty(shape, np.float32)
    norms = np.sum(seeds**2, axis=1)
    gaps = np.sqrt(np.sum((seeds[:, None] - seeds[None]) ** 2, axis=-1))
    y, x = grid.y[:, None], grid.x[None, :]
    for k, zk in enumerate(grid.z):
        near = np.flatnonzero(np.abs(seeds[:, 0] - zk) < 1.6 * CELL_UM)
        points = np.stack(
            [
                (zk + warp[0][k]).ravel(),
                (np.broadcast_to(y, shape[1:]) + warp[1][k]).ravel(),
                (np.broadcast_to(x, shape[1:]) + warp[2][k]).ravel(),
            ],
            axis=1,
        )
        d2 = norms[None, near] - 2.0 * points @ seeds[near].T  # |p - s|^2 - |p|^2
        first = np.argmin(d2, axis=1)
        rows = np.arange(d2.shape[0])
        best = d2[rows, first]
        d2[rows, first] = np.inf
        second = np.argmin(d2, axis=1)
        runner = d2[rows, second]
        # exact distance to the bisecting plane of the two nearest seeds
        first, second = near[first], near[second]
        distance = (runner - best) / (2.0 * np.maximum(gaps[first, second], 1e-6))
        cell[k] = first.reshape(shape[1:])
        to_membrane[k] = distance.reshape(shape[1:])
    return cell, to_membrane


def cells_volume(shape: tuple[int, int, int], rng: np.random.Generator):
    """(relative fluorophore density before the PSF, canvas with tissue and insert labels)."""
    grid = Grid(shape, SPACING_UM, (shape[0] - 1) / 2 * SPACING_UM[0])
    canvas = Canvas(grid, background=0.0, tissue_names=TISSUES)
    seeds = _seeds(grid, rng)
    cell, to_membrane = _voronoi(grid, seeds, rng)
    density = np.full(shape, 0.0, np.float32)
    membrane = to_membrane < 0.22
    canvas.tissues[:] = canvas.tissue("cytoplasm")
    canvas.tissues[membrane] = canvas.tissue("membrane")
    grain = fine_texture(shape, (1.5, 2.0, 2.0), rng)
    density[:] = BRIGHTNESS["cytoplasm"] * np.clip(1 + 0.15 * grain, 0.2, None)
    density[membrane] = BRIGHTNESS["membrane"] * (1 + 0.15 * grain[membrane])
    chromatin = fine_texture(shape, (1.2, 1.8, 1.8), rng)
    z, y, x = grid.coords((slice(None),) * 3)
    for index, seed in enumerate(seeds):
        centre = seed + rng.normal(0, 0.8, 3)
        axes = np.array([rng.uniform(2.8, 3.6), rng.uniform(3.2, 4.6), rng.uniform(3.2, 4.6)])
        angle = rng.uniform(0, np.pi)
        reach = axes.max() + 0.5
        box = grid.box(centre - reach, centre + reach)
        if box is None:
            continue
        zb, yb, xb = z[box[0]], y[:, box[1]], x[:, :, box[2]]
        dy, dx = yb - centre[1], xb - centre[2]
        u = (dy * math.cos(angle) + dx * math.sin(angle)) / axes[1]
        v = (dx * math.cos(angle) - dy * math.sin(angle)) / axes[2]
        q = ((zb - centre[0]) / axes[0]) ** 2 + u * u + v * v
        inside = (q <= 1.0) & (cell[box] == index) & (to_membrane[box] > 0.8)
        if not inside.any():
            continue
        level = rng.uniform(0.8, 1.2) * BRIGHTNESS["nucleus"]
        envelope = (q > 0.8) & inside
        target = density[box]
        target[inside] = level * np.clip(1 + 0.4 * chromatin[box][inside], 0.3, None)
        target[envelope] *= 1.25  # the lamina under the envelope
        canvas.tissues[box][inside] = canvas.tissue("nucleus")
        for _ in range(int(rng.integers(1, 3))):  # nucleoli: dark, chromatin-poor
            offset = rng.normal(0, 0.35, 3) * axes
            r = rng.uniform(0.6, 1.1)
            blob = (zb - centre[0] - offset[0]) ** 2 / (1.3 * r) ** 2 + (
                (dy - offset[1]) ** 2 + (dx - offset[2]) ** 2
            ) / r**2 <= 1.0
            blob &= inside
            target[blob] = BRIGHTNESS["nucleolus"]
            canvas.tissues[box][blob] = canvas.tissue("nucleolus")
    _puncta(canvas, density, rng)
    return density, canvas


def _puncta(canvas: Canvas, density: np.ndarray, rng: np.random.Generator) -> None:
    """Diffraction-limited spots: vesicles in the cytoplasm, foci in the nuclei (numbered). Each
    insert is the ellipsoid of about two PSF widths around the spot."""
    grid = canvas.grid
    z, y, x = grid.coords((slice(None),) * 3)
    spot = np.array([1.8 * PSF_SIGMA_UM[0], 2.5 * PSF_SIGMA_UM[1], 2.5 * PSF_SIGMA_UM[2]])
    count = {"cytoplasm": int(grid.shape[1] * grid.shape[2] / 2200), "nucleus": 8}
    for host, n in count.items():
        for _ in range(n):
            centre = canvas.site(host, float(spot.max() * 2.2), rng)
            if centre is None:
                continue
            box = grid.box(centre - 2 * spot, centre + 2 * spot)
            if box is None:
                continue
            zb, yb, xb = z[box[0]], y[:, box[1]], x[:, :, box[2]]
            r2 = ((zb - centre[0]) / spot[0]) ** 2 + ((yb - centre[1]) / spot[1]) ** 2
            r2 = r2 + ((xb - centre[2]) / spot[2]) ** 2
            label = canvas.insert(
                (box, r2 <= 1.0), 0.0, f"{'vesicle' if host == 'cytoplasm' else 'nuclear focus'}"
            )
            if label:
                core = (zb - centre[0]) ** 2 / 0.35**2
                core = core + ((yb - centre[1]) ** 2 + (xb - centre[2]) ** 2) / 0.2**2
                density[box][core <= 1.0] = rng.uniform(6.0, 12.0) * BRIGHTNESS["nucleus"]


def cells_stack(
    shape: tuple[int, int, int] = (32, 256, 256),
    photons: float = 50.0,
    read_noise: float = 1.6,
    gain: float = 1.0,
    seed: int = 0,
    offset: float = 100.0,
    background: float = 0.02,
) -> SampleStack:
    """Confocal-like fluorescence stack of a cell cluster with Poisson-Gaussian camera noise.

    Expected photo-electrons ``photons * (c + background)`` per voxel, with ``c`` the blurred
    density scaled so that the brightest puncta reach about 1; counts = ``offset + gain * (Poisson
    electrons) + N(0, read_noise^2)`` rounded and clipped to uint16 (``read_noise`` in counts).
    ``clean`` (float32) is the expected count. 0.4 µm steps, 0.16 µm pixels.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be (Z, Y, X) with positive sizes, got {shape}")
    if photons <= 0 or read_noise < 0 or gain <= 0:
        raise ValueError("photons and gain must be > 0 and read_noise >= 0")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 31]))
    density, canvas = cells_volume(shape, rng)
    sigma_px = tuple(s / p for s, p in zip(PSF_SIGMA_UM, SPACING_UM, strict=True))
    blurred = ndimage.gaussian_filter(density, sigma_px, mode="nearest")
    depth = np.exp(-np.arange(shape[0]) * SPACING_UM[0] / 40.0)[:, None, None]  # scattering
    relative = blurred * depth / max(float(np.percentile(blurred, 99.99)), 1e-6)
    electrons = photons * (relative + background)
    clean = (offset + gain * electrons).astype(np.float32)
    noise_rng = np.random.default_rng(np.random.SeedSequence([seed, 32]))
    counts = offset + gain * noise_rng.poisson(electrons) + noise_rng.normal(0, read_noise, shape)
    noisy = np.clip(np.round(counts), 0, 65535).astype(np.uint16)
    description = (
        f"Synthetic confocal-like fluorescence stack of a packed cell cluster, {shape[0]} "
        f"slices at {SPACING_UM[0]:g} µm, {SPACING_UM[1]:g} µm pixels: membranes, nuclei with "
        f"chromatin texture, lamina and nucleoli, granular cytoplasm and "
        f"{len(canvas.insert_names)} diffraction-limited puncta (vesicles, nuclear foci); "
        f"Gaussian PSF (sigma {PSF_SIGMA_UM[0]:g} µm axial, {PSF_SIGMA_UM[1]:g} µm lateral), "
        f"slight loss with depth; {photons:g} photo-electrons at the brightest puncta, "
        f"{background:g} relative background, gain {gain:g}, read noise {read_noise:g} counts, "
        f"offset {offset:g}, uint16 counts. {LICENCE}"
    )
    return SampleStack(
        noisy=noisy,
        clean=clean,
        spacing=SPACING_UM,
        name=f"Fluorescent cells (Poisson-Gaussian, {photons:g} photons)",
        description=description,
        units="counts",
        suggested_threshold=camera_threshold(photons, read_noise, background, gain),
        inserts=canvas.inserts,
        insert_names=tuple(canvas.insert_names),
        tissues=canvas.tissues,
        tissue_names=TISSUES,
    )
