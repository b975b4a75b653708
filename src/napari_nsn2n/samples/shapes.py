"""Geometry shared by the anatomy generators: a physical grid, smooth random fields, and a canvas
that paints tissues (labelled) and numbered small inserts (labelled separately, host kept).

Coordinates are physical (mm or µm), centred in-plane: ``x`` grows to the image's right, ``y``
towards the top row (anterior for a patient in radiological view), ``z`` towards the first slice.
Shapes are painted inside their bounding box only, so small ones cost little.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

Box = tuple[slice, slice, slice]


@dataclass(frozen=True)
class Grid:
    """Voxel centres of a (Z, Y, X) stack with ``spacing`` (dz, dy, dx); slice 0 at ``z_top``."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    z_top: float

    @property
    def z(self) -> np.ndarray:
        return (self.z_top - np.arange(self.shape[0]) * self.spacing[0]).astype(np.float32)

    @property
    def y(self) -> np.ndarray:
        return (((self.shape[1] - 1) / 2 - np.arange(self.shape[1])) * self.spacing[1]).astype(
            np.float32
        )

    @property
    def x(self) -> np.ndarray:
        return ((np.arange(self.shape[2]) - (self.shape[2] - 1) / 2) * self.spacing[2]).astype(
            np.float32
        )

    def box(self, low: np.ndarray, high: np.ndarray) -> Box | None:
        """Index box holding the physical box [low, high] ((z, y, x) each); None if outside."""
        out = []
        for axis, coords in enumerate((self.z, self.y, self.x)):
            inside = np.nonzero((coords >= low[axis]) & (coords <= high[axis]))[0]
            if inside.size == 0:
                return None
            out.append(slice(int(inside[0]), int(inside[-1]) + 1))
        return (out[0], out[1], out[2])

    def coords(self, box: Box) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Broadcastable z, y, x of ``box``."""
        return (
            self.z[box[0]][:, None, None],
            self.y[box[1]][None, :, None],
            self.x[box[2]][None, None, :],
        )

    def point(self, index: tuple[int, int, int]) -> np.ndarray:
        return np.array([self.z[index[0]], self.y[index[1]], self.x[index[2]]], np.float64)


def _interpolation_matrix(size: int, coarse: int) -> np.ndarray:
    """(size, coarse) linear interpolation from ``coarse`` samples spread over ``size`` voxels."""
    position = (np.arange(size) + 0.5) * coarse / size - 0.5
    low = np.clip(np.floor(position).astype(int), 0, coarse - 1)
    high = np.minimum(low + 1, coarse - 1)
    weight = np.clip(position - low, 0.0, 1.0)
    matrix = np.zeros((size, coarse), np.float32)
    matrix[np.arange(size), low] += 1 - weight
    matrix[np.arange(size), high] += weight
    return matrix


def random_field(
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    scale: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Smooth Gaussian random field, about unit std, correlation length about ``scale`` (units of
    ``spacing``): white noise on a grid of step ``scale / 2`` (or the voxel, if larger), blurred,
    interpolated up linearly (one matrix product per axis)."""
    steps = [max(scale / 2, s) for s in spacing]
    coarse_shape = [
        max(2, int(np.ceil(n * s / step)) + 2)
        for n, s, step in zip(shape, spacing, steps, strict=True)
    ]
    sigma = [scale / (2 * step) for step in steps]
    field = ndimage.gaussian_filter(rng.standard_normal(coarse_shape), sigma, mode="wrap")
    field = ((field - field.mean()) / max(float(field.std()), 1e-9)).astype(np.float32)
    (nz, ny, nx), (cz, cy, cx) = shape, coarse_shape
    mz, my, mx = (_interpolation_matrix(n, c) for n, c in zip(shape, coarse_shape, strict=True))
    # plain 2D products (numpy's stacked matmul is far slower here)
    field = (field.reshape(cz * cy, cx) @ mx.T).reshape(cz, cy, nx)
    field = (my @ field.transpose(1, 0, 2).reshape(cy, cz * nx)).reshape(ny, cz, nx)
    field = (mz @ field.transpose(1, 0, 2).reshape(cz, ny * nx)).reshape(nz, ny, nx)
    return field


def fine_texture(
    shape: tuple[int, ...], sigma_px: tuple[float, ...], rng: np.random.Generator
) -> np.ndarray:
    """White noise blurred by ``sigma_px`` (voxels), unit std: grain finer than ``random_field``."""
    noise = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma_px)
    return noise / max(float(noise.std()), 1e-9)


def ellipsoid(
    grid: Grid,
    centre: np.ndarray,
    axes: np.ndarray,
    angle_deg: float = 0.0,
) -> tuple[Box, np.ndarray] | None:
    """(box, mask) of an ellipsoid: semi-axes (c_z, a_y, b_x) rotated by ``angle_deg`` in-plane."""
    centre, axes = np.asarray(centre, float), np.asarray(axes, float)
    reach = np.array([axes[0], axes[1:].max(), axes[1:].max()])
    box = grid.box(centre - reach, centre + reach)
    if box is None:
        return None
    z, y, x = grid.coords(box)
    cos, sin = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    dy, dx = y - centre[1], x - centre[2]
    q = ((z - centre[0]) / axes[0]) ** 2 + ((dy * cos - dx * sin) / axes[1]) ** 2
    mask = q + ((dx * cos + dy * sin) / axes[2]) ** 2 <= 1.0
    return box, mask


def ellipse(
    grid: Grid, k: int, centre: tuple[float, float], axes: tuple[float, float], angle_deg: float = 0
) -> tuple[Box, np.ndarray] | None:
    """(box, mask) of an ellipse in slice ``k``: centre (y, x), semi-axes (a_y, b_x), rotated."""
    found = ellipsoid(grid, (grid.z[k], *centre), (grid.spacing[0] / 4, *axes), angle_deg)
    if found is None:
        return None
    box, mask = found
    return (slice(k, k + 1), box[1], box[2]), mask


def tube(grid: Grid, points: np.ndarray, radius: float | np.ndarray) -> tuple[Box, np.ndarray]:
    """(box, mask) of the voxels within ``radius`` of the polyline ``points`` ((N, 3) z, y, x);
    ``radius`` may vary per point (linearly along each segment). Each segment is measured in
    its own bounding box only."""
    points = np.asarray(points, float)
    radii = np.broadcast_to(np.asarray(radius, float), (len(points),))
    reach = radii.max()
    box = grid.box(points.min(0) - reach, points.max(0) + reach)
    if box is None:
        return (slice(0, 0), slice(0, 0), slice(0, 0)), np.zeros((0, 0, 0), bool)
    mask = np.zeros(tuple(b.stop - b.start for b in box), bool)
    for p0, p1, r0, r1 in zip(points[:-1], points[1:], radii[:-1], radii[1:], strict=True):
        r = max(r0, r1)
        part = grid.box(np.minimum(p0, p1) - r, np.maximum(p0, p1) + r)
        if part is None:
            continue
        z, y, x = grid.coords(part)
        d = p1 - p0
        t = ((z - p0[0]) * d[0] + (y - p0[1]) * d[1] + (x - p0[2]) * d[2]) / max(d @ d, 1e-12)
        t = np.clip(t, 0.0, 1.0)
        dist2 = (z - p0[0] - t * d[0]) ** 2 + (y - p0[1] - t * d[1]) ** 2
        dist2 = dist2 + (x - p0[2] - t * d[2]) ** 2
        local = tuple(
            slice(q.start - b.start, q.stop - b.start) for q, b in zip(part, box, strict=True)
        )
        mask[local] |= dist2 <= (r0 + (r1 - r0) * t) ** 2
    return box, mask


def wander(
    start: np.ndarray,
    direction: np.ndarray,
    steps: int,
    step: float,
    bend: float,
    rng: np.random.Generator,
    within: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """A smooth random path ((steps + 1, 3) points): unit ``direction`` turned by ``bend`` per
    step; with ``within`` = (low, high) it turns back (is mirrored) at the walls of that box."""
    direction = np.asarray(direction, float) / np.linalg.norm(direction)
    points = [np.asarray(start, float)]
    for _ in range(steps):
        direction = direction + rng.normal(0.0, bend, 3)
        direction /= np.linalg.norm(direction)
        point = points[-1] + step * direction
        if within is not None:
            low, high = within
            outside = (point < low) | (point > high)
            direction[outside] *= -1
            point = np.clip(point, low, high)
        points.append(point)
    return np.array(points)


@dataclass
class Canvas:
    """Values, tissue labels and insert labels of a phantom being painted."""

    grid: Grid
    background: float
    tissue_names: tuple[str, ...]
    values: np.ndarray = field(init=False)
    tissues: np.ndarray = field(init=False)
    inserts: np.ndarray = field(init=False)
    insert_names: list[str] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.values = np.full(self.grid.shape, self.background, np.float32)
        self.tissues = np.zeros(self.grid.shape, np.uint8)
        self.inserts = np.zeros(self.grid.shape, np.uint16)

    def tissue(self, name: str) -> int:
        return self.tissue_names.index(name)

    def paint(
        self,
        region: tuple[Box, np.ndarray] | None,
        value: float | np.ndarray,
        tissue: str,
        within: tuple[str, ...] | None = None,
    ) -> None:
        """Paint ``region`` with ``value`` (a number, or an array of the region's box) as
        ``tissue``; only over voxels of the ``within`` tissues when given."""
        if region is None:
            return
        box, mask = region
        if within is not None:
            allowed = np.zeros(256, bool)
            allowed[[self.tissue(t) for t in within]] = True
            mask = mask & allowed[self.tissues[box]]
        target = self.values[box]
        target[mask] = value[mask] if isinstance(value, np.ndarray) else value
        self.tissues[box][mask] = self.tissue(tissue)

    def paint_flat(
        self,
        index: np.ndarray,
        value: float | np.ndarray,
        tissue: str,
        within: tuple[str, ...] | None = None,
    ) -> None:
        """``paint`` for flat voxel indices (``value``: a number or one value per index)."""
        tissues, values = self.tissues.reshape(-1), self.values.reshape(-1)
        if within is not None:
            allowed = np.zeros(256, bool)
            allowed[[self.tissue(t) for t in within]] = True
            keep = allowed[tissues[index]]
            index = index[keep]
            value = value[keep] if isinstance(value, np.ndarray) else value
        values[index] = value
        tissues[index] = self.tissue(tissue)

    def insert(self, region: tuple[Box, np.ndarray] | None, value: float, name: str) -> int:
        """Paint a numbered insert (its host tissue label is kept); returns its label (0: none)."""
        if region is None or not region[1].any():
            return 0
        box, mask = region
        self.insert_names.append(name)
        label = len(self.insert_names)
        self.values[box][mask] = value
        self.inserts[box][mask] = label
        return label

    def site(
        self,
        host: str,
        clearance: float,
        rng: np.random.Generator,
        tries: int = 300,
        z_range: tuple[float, float] | None = None,
    ) -> np.ndarray | None:
        """A random point inside ``host`` whose ball of radius ``clearance`` lies in the host and
        touches no insert (checked on 26 directions and the centre); None if none is found."""
        candidates = np.flatnonzero(self.tissues == self.tissue(host))
        if candidates.size == 0:
            return None
        directions = np.array(
            [(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)], float
        )
        directions[1:] /= np.linalg.norm(directions[1:], axis=1, keepdims=True).clip(1e-9)
        directions[13] = 0.0  # the centre itself
        step = np.array(self.grid.spacing)
        top = np.array(self.grid.shape) - 1
        for _ in range(tries):
            index = np.unravel_index(int(rng.choice(candidates)), self.grid.shape)
            centre = self.grid.point(index)
            if z_range is not None and not z_range[0] <= centre[0] <= z_range[1]:
                continue
            probes = np.rint(
                np.array(index) + directions * clearance * np.array([-1, -1, 1]) / step
            )
            probes = probes.astype(int)
            if np.any(probes < 0) or np.any(probes > top):
                continue
            probe = tuple(probes.T)
            if np.all(self.tissues[probe] == self.tissue(host)) and not self.inserts[probe].any():
                return centre
        return None
