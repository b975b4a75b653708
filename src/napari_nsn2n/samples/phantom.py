"""The 3D head phantom shared by the CT and MRI samples: a Shepp-Logan-like volume whose small
structures appear and disappear along z, with vessels, calcifications and texture."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

FOV_MM = 256.0  # in-plane field of view of the head phantom (pixel size = FOV / Y)
Z_STEP_PX = 2.0  # slice spacing of the phantom in units of the in-plane pixel size

# (x0, y0, z0, a, b, c, phi_deg, tx, ty, ct_hu, mri): ellipsoids painted in order (later ones
# overwrite). Centres shift with z by (tx, ty) * z so cross-sections drift smoothly along the stack.
# In-plane layout follows the 2D Shepp-Logan phantom; z extents are chosen so that the small
# structures appear and disappear within the default slab (z in about [-0.37, 0.37]).
_ELLIPSOIDS: tuple[tuple[float, ...], ...] = (
    (0.0, 0.0, -0.10, 0.72, 0.95, 1.00, 0.0, 0.0, 0.0, -40.0, 0.70),  # scalp / skin
    (0.0, 0.0, -0.10, 0.69, 0.92, 0.97, 0.0, 0.0, 0.0, 950.0, 0.12),  # skull
    (0.0, -0.0184, -0.10, 0.6624, 0.874, 0.94, 0.0, 0.0, 0.0, 38.0, 0.55),  # grey matter
    (0.0, -0.03, -0.05, 0.54, 0.74, 0.70, 0.0, 0.0, 0.05, 27.0, 0.80),  # white matter (wiggly)
    (0.22, 0.0, 0.05, 0.11, 0.31, 0.25, -18.0, 0.10, 0.0, 6.0, 0.18),  # ventricles
    (-0.22, 0.0, 0.05, 0.16, 0.41, 0.28, 18.0, -0.10, 0.0, 6.0, 0.18),
    (0.0, 0.35, 0.15, 0.21, 0.25, 0.20, 0.0, 0.0, -0.2, 46.0, 0.64),  # frontal structure
    (0.0, 0.10, 0.10, 0.046, 0.046, 0.05, 0.0, 0.0, 0.0, 62.0, 0.95),  # small lesions
    (0.0, -0.10, -0.15, 0.046, 0.046, 0.05, 0.0, 0.0, 0.0, 62.0, 0.95),
    (-0.08, -0.605, -0.25, 0.046, 0.023, 0.06, 0.0, 0.0, 0.0, 70.0, 0.90),
    (0.0, -0.606, 0.0, 0.023, 0.023, 0.04, 0.0, 0.0, 0.0, 70.0, 0.90),
    (0.06, -0.605, 0.20, 0.023, 0.046, 0.06, 0.0, 0.0, 0.0, 70.0, 0.90),
)
_WHITE_MATTER = 3
_VESSEL = (60.0, 0.95)
_CALCIFICATION = (300.0, 0.30)
_TEXTURE = (4.0, 0.04)  # amplitude of the smooth in-brain texture


def _grid(shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised coordinates: y, x in [-1, 1] over the larger in-plane side, z in same units."""
    nz, ny, nx = shape
    step = 2.0 / max(ny, nx)
    z = ((np.arange(nz) - (nz - 1) / 2) * step * Z_STEP_PX).astype(np.float32)[:, None, None]
    y = (-(np.arange(ny) - (ny - 1) / 2) * step).astype(np.float32)[None, :, None]
    x = ((np.arange(nx) - (nx - 1) / 2) * step).astype(np.float32)[None, None, :]
    return z, y, x


def smooth_field(
    shape: tuple[int, int, int], rng: np.random.Generator, cells: int = 24
) -> np.ndarray:
    """Smooth random field in about [-1, 1] (coarse noise, blurred, upsampled linearly)."""
    nz, ny, nx = shape
    coarse_shape = (max(2, round(nz / Z_STEP_PX * cells / max(ny, nx))), cells, cells)
    coarse = ndimage.gaussian_filter(rng.standard_normal(coarse_shape), 1.0, mode="wrap")
    coarse /= max(float(np.abs(coarse).max()), 1e-6)
    zoom = [s / c for s, c in zip(shape, coarse_shape, strict=True)]
    return ndimage.zoom(coarse.astype(np.float32), zoom, order=1, mode="nearest", grid_mode=True)


# tissue classes of the head phantom (label = index); ellipsoids 0-6 are tissues, 7-11 lesions
HEAD_TISSUES = (
    "air",
    "scalp",
    "skull",
    "grey matter",
    "white matter",
    "left ventricle",
    "right ventricle",
    "frontal structure",
)
_FIRST_LESION = 7


@dataclass(frozen=True)
class HeadLabels:
    """Where the head phantom's tissues and small inserts are (painted, before the blur)."""

    tissues: np.ndarray  # uint8, index into HEAD_TISSUES
    inserts: np.ndarray  # uint16, 0 = none, k = insert k
    insert_names: tuple[str, ...]

    def fields(self) -> dict:
        """As the label fields of a ``SampleStack``."""
        return {
            "inserts": self.inserts,
            "insert_names": self.insert_names,
            "tissues": self.tissues,
            "tissue_names": HEAD_TISSUES,
        }


def head_volume(shape: tuple[int, int, int], seed: int, column: int) -> np.ndarray:
    """Paint the head phantom with the tissue values of ``column`` (0: CT HU, 1: MRI T1-like)."""
    return paint_head(shape, seed, column)[0]


def paint_head(
    shape: tuple[int, int, int], seed: int, column: int
) -> tuple[np.ndarray, HeadLabels]:
    """``head_volume`` and where its tissues and inserts are (the same for both columns): the
    small lesions, each oblique vessel and each calcification are one insert."""
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be (Z, Y, X) with positive sizes, got {shape}")
    rng = np.random.default_rng(seed)
    z, y, x = _grid(shape)
    background = -1000.0 if column == 0 else 0.0
    vol = np.full(shape, background, dtype=np.float32)
    tissues = np.zeros(shape, np.uint8)
    inserts = np.zeros(shape, np.uint16)
    names: list[str] = []
    wiggle = smooth_field(shape, rng)
    for i, (x0, y0, z0, a, b, c, phi, tx, ty, *values) in enumerate(_ELLIPSOIDS):
        cos, sin = math.cos(math.radians(phi)), math.sin(math.radians(phi))
        xs = x - (x0 + tx * z)
        ys = y - (y0 + ty * z)
        q = (
            ((xs * cos + ys * sin) / a) ** 2
            + ((ys * cos - xs * sin) / b) ** 2
            + ((z - z0) / c) ** 2
        )
        inside = q <= (1.0 + 0.18 * wiggle if i == _WHITE_MATTER else 1.0)
        vol[inside] = values[column]
        if i < _FIRST_LESION:
            tissues[inside] = i + 1
        elif inside.any():
            names.append("small lesion" if a > 0.03 else "tiny lesion")
            inserts[inside] = len(names)
    brain = vol != background
    # Fine detail: oblique vessels (cross the slab, so they move between slices) and calcifications.
    step = 2.0 / max(shape[1], shape[2])
    zlim = float(np.abs(z).max()) + 0.1
    for _ in range(5):
        p0 = np.array([rng.uniform(-zlim, zlim), rng.uniform(-0.5, 0.5), rng.uniform(-0.4, 0.4)])
        p1 = np.array([rng.uniform(-zlim, zlim), rng.uniform(-0.5, 0.5), rng.uniform(-0.4, 0.4)])
        d = p1 - p0
        t = np.clip(
            ((z - p0[0]) * d[0] + (y - p0[1]) * d[1] + (x - p0[2]) * d[2]) / float(d @ d), 0, 1
        )
        dist2 = (
            (z - p0[0] - t * d[0]) ** 2 + (y - p0[1] - t * d[1]) ** 2 + (x - p0[2] - t * d[2]) ** 2
        )
        vessel = dist2 <= (rng.uniform(0.9, 1.8) * step) ** 2
        vol[vessel] = _VESSEL[column]
        names.append("oblique vessel")
        inserts[vessel] = len(names)
    for _ in range(6):
        cz, cy, cx = rng.uniform(-zlim, zlim), rng.uniform(-0.6, 0.6), rng.uniform(-0.45, 0.45)
        r = rng.uniform(1.0, 2.2) * step
        spot = ((z - cz) / Z_STEP_PX) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= r * r
        vol[spot] = _CALCIFICATION[column]
        names.append("calcification")
        inserts[spot] = len(names)
    # Smooth texture inside the head, then a slight blur for partial-volume edges.
    skull_value = _ELLIPSOIDS[1][9 + column]
    soft = brain & (vol != skull_value)
    vol[soft] += _TEXTURE[column] * smooth_field(shape, rng, cells=48)[soft]
    vol = ndimage.gaussian_filter(vol, sigma=(0.4, 0.6, 0.6), mode="nearest")
    return vol, _numbered(tissues, inserts, names)


def _numbered(tissues: np.ndarray, inserts: np.ndarray, names: list[str]) -> HeadLabels:
    """Drop inserts that a later one painted over entirely (or that missed the stack), renumber."""
    present = np.unique(inserts[inserts > 0])
    lookup = np.zeros(len(names) + 1, np.uint16)
    lookup[present] = np.arange(1, present.size + 1)
    kept = tuple(names[k - 1] for k in present)
    return HeadLabels(tissues=tissues, inserts=lookup[inserts], insert_names=kept)


def phantom_volume(shape: tuple[int, int, int] = (48, 256, 256), seed: int = 0) -> np.ndarray:
    """Clean 3D head phantom (T1-like contrast, zero background) as float32 in [0, 1].

    A 3D extension of Shepp-Logan: scalp, skull, grey / white matter (with a wiggly boundary),
    ventricles and small lesions whose cross-sections change smoothly along z (the small ones
    appear and disappear within the stack), plus oblique vessels, calcifications and a faint
    smooth texture placed by ``seed``.
    """
    return np.clip(head_volume(shape, seed, column=1), 0.0, 1.0).astype(np.float32)


def pixel_mm(shape: tuple[int, ...]) -> float:
    """In-plane pixel size (mm) of a phantom of ``shape``."""
    return FOV_MM / max(shape[1], shape[2])


def head_spacing(shape: tuple[int, ...]) -> tuple[float, float, float]:
    """Voxel spacing (dz, dy, dx) in mm of a phantom of ``shape``."""
    px = pixel_mm(shape)
    return (px * Z_STEP_PX, px, px)
