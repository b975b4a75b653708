"""The brain phantom as tissue labels: scalp, skull with diploe, CSF spaces, a folded cortex, white
matter, deep grey nuclei, ventricles, vessels, and numbered small lesions and vessels (inserts).

The cortex folds: sulci are the zero set of a smooth random function on the sphere of directions,
measured at each voxel's direction from the head's centre, so every sulcus runs inwards from the
surface (to a depth that varies around the brain); grey matter is everything within a cortical
thickness of CSF (a Euclidean distance transform). Axial slab, radiological view (patient's right on
the image's left), anterior at the top, cranial towards slice 0; lengths in mm.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .shapes import Canvas, Grid, ellipsoid, tube, wander

TISSUES = (
    "air",
    "skin",
    "fat",
    "muscle",
    "bone",
    "diploe",
    "csf",
    "dura",
    "grey matter",
    "white matter",
    "caudate",
    "putamen",
    "pallidum",
    "thalamus",
    "choroid plexus",
    "vessel",
)
HEAD_CENTRE = np.array([-5.0, -4.0, 0.0])  # z, y, x
HEAD_AXES = np.array([92.0, 96.0, 76.0])
CORTEX_MM = 3.0

# (name, host tissue, radius range mm, how many, elongation along the ray from the ventricles)
LESIONS: tuple[tuple[str, str, tuple[float, float], int], ...] = (
    ("white-matter lesion", "white matter", (1.5, 4.0), 7),
    ("lacune", "putamen", (1.2, 2.2), 1),
    ("lacune", "thalamus", (1.2, 2.2), 1),
    ("cortical lesion", "grey matter", (1.5, 2.5), 2),
)


def _sphere_table(rng: np.random.Generator, wavelength: float, waves: int = 28) -> np.ndarray:
    """A smooth random function on directions, tabulated on (polar 0..pi, azimuth -pi..pi)."""
    polar = np.linspace(0, np.pi, 181)[:, None]
    azimuth = np.linspace(-np.pi, np.pi, 361)[None, :]
    unit = np.stack(
        [
            np.cos(polar) + 0 * azimuth,
            np.sin(polar) * np.sin(azimuth),
            np.sin(polar) * np.cos(azimuth),
        ]
    )
    table = np.zeros(unit.shape[1:])
    radius = 85.0
    for _ in range(waves):
        k = rng.standard_normal(3)
        k *= 2 * np.pi / wavelength / np.linalg.norm(k)
        table += np.cos(radius * np.tensordot(k, unit, axes=1) + rng.uniform(0, 2 * np.pi))
    return (table / np.sqrt(waves / 2)).astype(np.float32)


def _lookup(table: np.ndarray, polar: np.ndarray, azimuth: np.ndarray) -> np.ndarray:
    coords = np.stack([polar * (180 / np.pi), (azimuth + np.pi) * (180 / np.pi)])
    return ndimage.map_coordinates(table, coords, order=1, mode="nearest")


class _Head:
    """Radial depth below the scalp and direction of every voxel (relative to the head centre)."""

    def __init__(self, grid: Grid, rng: np.random.Generator) -> None:
        z, y, x = grid.coords((slice(None),) * 3)
        dz, dy, dx = z - HEAD_CENTRE[0], y - HEAD_CENTRE[1], x - HEAD_CENTRE[2]
        axes = HEAD_AXES * rng.uniform(0.96, 1.04, 3)
        self.radius = np.sqrt(dz * dz + dy * dy + dx * dx)
        rho = np.sqrt((dz / axes[0]) ** 2 + (dy / axes[1]) ** 2 + (dx / axes[2]) ** 2)
        self.depth = (self.radius / np.maximum(rho, 1e-6) - self.radius).astype(np.float32)
        self.inside = rho <= 1.0
        self.polar = np.arccos(np.clip(dz / np.maximum(self.radius, 1e-6), -1, 1))
        self.azimuth = np.broadcast_to(np.arctan2(dx, dy), self.depth.shape)
        self.x = np.broadcast_to(x, self.depth.shape)
        self.y = np.broadcast_to(y, self.depth.shape)
        self.z = np.broadcast_to(z, self.depth.shape)


def paint_brain(canvas: Canvas, rng: np.random.Generator) -> list[str]:
    """Paint the head into ``canvas`` (labels only); returns each insert's kind (by label)."""
    grid = canvas.grid
    head = _Head(grid, rng)
    everything = (slice(None),) * 3
    d, x, y, z = head.depth, head.x, head.y, head.z
    lateral = np.clip((np.abs(x) - 35) / 30, 0, 1) * (z < 40)  # temporalis and thicker scalp
    layers = [
        ("skin", 2.0),
        ("fat", 3.5),
        ("muscle", 1.5 + 6.0 * lateral),
        ("bone", 1.8),
        ("diploe", 2.8),
        ("bone", 1.6),
    ]
    outer = np.zeros_like(d)
    for name, thickness in layers:
        canvas.paint((everything, head.inside & (d >= outer) & (d < outer + thickness)), 0, name)
        outer = outer + thickness
    csf_width = 1.8 + 0.9 * _lookup(_sphere_table(rng, 60.0, 12), head.polar, head.azimuth)
    intracranial = head.inside & (d >= outer)
    canvas.paint((everything, intracranial), 0, "csf")
    cortex_depth = d - outer - np.maximum(csf_width, 0.8)
    fissure = (np.abs(x) < 1.3) & ((z > 24 + 2 * (y / 40) ** 2) | (np.abs(y) > 34))  # callosum
    brain = intracranial & (cortex_depth > 0) & ~fissure
    # sulci: radial clefts where the function on directions crosses zero, to a varying depth
    folds = _lookup(_sphere_table(rng, 13.0, 48), head.polar, head.azimuth)
    bend = _lookup(_sphere_table(rng, 13.0, 48), head.polar, head.azimuth)
    folds = folds + 0.11 * np.clip(d - outer, 0, 30) * bend  # sulci curve and branch inwards
    sulcal_depth = 9 + 6 * (1 + _lookup(_sphere_table(rng, 70.0, 10), head.polar, head.azimuth))
    width = 0.12 + 0.2 * np.clip(1 - cortex_depth / sulcal_depth, 0, 1)
    sulci = (np.abs(folds) < width) & (cortex_depth < sulcal_depth)
    brain &= ~sulci
    canvas.paint((everything, brain), 0, "white matter")
    _paint_deep(canvas, rng)
    csf = canvas.tissues == canvas.tissue("csf")
    distance = ndimage.distance_transform_edt(~(csf | ~head.inside), sampling=grid.spacing)
    canvas.paint(
        (everything, brain & (distance <= CORTEX_MM)), 0, "grey matter", within=("white matter",)
    )
    canvas.paint(
        (everything, fissure & intracranial & (np.abs(x) < 0.35)), 0, "dura", within=("csf",)
    )
    sinus = (np.abs(x) < 3.5 - 0.5 * (d - outer)) & intracranial & (d - outer < 5) & (z > 10)
    canvas.paint((everything, sinus), 0, "vessel", within=("csf", "dura", "grey matter"))
    return _place_inserts(canvas, rng)


def _paint_deep(canvas: Canvas, rng: np.random.Generator) -> None:
    """Ventricles with choroid plexus, caudate, putamen, pallidum, thalamus, Sylvian fissures."""
    grid = canvas.grid
    within = ("white matter",)
    j = rng.normal(0, 1.0, 3)
    for side in (-1, 1):
        s = float(side)
        canvas.paint(
            ellipsoid(grid, (-8 + j[0], 4, s * 27), (10, 15, 6.5), s * 12),
            0,
            "putamen",
            within=within,
        )
        canvas.paint(
            ellipsoid(grid, (-9, 2, s * 20), (7, 9, 3.5), s * 12), 0, "pallidum", within=within
        )
        canvas.paint(
            ellipsoid(grid, (-8, -14 + j[1], s * 11), (10, 15, 8.5), -s * 10),
            0,
            "thalamus",
            within=within,
        )
        canvas.paint(
            ellipsoid(grid, (6, 18, s * 13), (14, 11, 6), s * 15), 0, "caudate", within=within
        )
        ventricle = [
            (ellipsoid(grid, (12, -4, s * 8), (12, 27, 4.5), s * 6), "csf"),  # body
            (ellipsoid(grid, (2, 20, s * 8), (12, 10, 4.5), s * 25), "csf"),  # frontal horn
            (ellipsoid(grid, (4, -32, s * 18), (11, 10, 6), -s * 30), "csf"),  # atrium
            (ellipsoid(grid, (-6, -50, s * 20), (7, 12, 3.5), -s * 10), "csf"),  # occipital horn
            (ellipsoid(grid, (-28, -4, s * 33), (6, 13, 3.0), s * 20), "csf"),  # temporal horn
        ]
        for region, name in ventricle:
            canvas.paint(region, 0, name, within=(*within, "caudate", "thalamus"))
        canvas.paint(
            ellipsoid(grid, (4, -34, s * 21), (5, 5, 3.5)), 0, "choroid plexus", within=("csf",)
        )
        sylvian = ellipsoid(grid, (-14, 6, s * 50), (14, 1.6, 26), s * 18)
        canvas.paint(sylvian, 0, "csf", within=("white matter", "grey matter", "putamen"))
    canvas.paint(
        ellipsoid(grid, (10, -4, 0), (12, 28, 1.2)), 0, "white matter", within=("csf",)
    )  # septum pellucidum
    canvas.paint(
        ellipsoid(grid, (-16, 0, 0), (10, 14, 2.6)), 0, "csf", within=("white matter", "thalamus")
    )  # third ventricle
    for side in (-1, 1):  # middle cerebral artery branches in the Sylvian fissure (tissue)
        path = wander((-16, 8, side * 28), (0.25, -0.2, side * 1.0), 10, 3.0, 0.12, rng)
        canvas.paint(
            tube(grid, path, np.linspace(1.6, 1.1, len(path))), 0, "vessel", within=("csf",)
        )


def _place_inserts(canvas: Canvas, rng: np.random.Generator) -> list[str]:
    """Small lesions in their host tissue, and small flow-void arteries in the sulci."""
    grid = canvas.grid
    kinds: list[str] = []
    pixel = grid.spacing[1]
    for name, host, (low, high), count in LESIONS:
        host_label = canvas.tissue(host)
        for _ in range(count):
            radius = float(rng.uniform(low, high))
            centre = canvas.site(host, radius + pixel, rng)
            if centre is None:
                continue
            ray = centre - np.array([5.0, -4.0, np.sign(centre[2]) * 10.0])
            angle = float(np.degrees(np.arctan2(-ray[2], ray[1])))
            axes = radius * np.array([1.0, 1.6 if "white" in name else 1.0, 1.0])
            found = ellipsoid(grid, centre, axes, angle)
            if found is None:
                continue
            box, mask = found
            mask = mask & (canvas.tissues[box] == host_label) & (canvas.inserts[box] == 0)
            if canvas.insert((box, mask), 0, f"{name} ({2 * radius:.1f} mm)"):
                kinds.append(name)
    grey = canvas.tissue("grey matter")
    for _ in range(6):  # cortical arteries running along the pia (flow voids)
        centre = canvas.site("grey matter", 2.0, rng)
        if centre is None:
            continue
        path = wander(centre, rng.standard_normal(3) * (0.3, 1, 1), 5, 2.5, 0.2, rng)
        box, mask = tube(grid, path, 0.9)
        if mask.size:
            mask = mask & (canvas.tissues[box] == grey) & (canvas.inserts[box] == 0)
            if canvas.insert((box, mask), 0, "cortical artery (1.8 mm)"):
                kinds.append("cortical artery")
    return kinds
