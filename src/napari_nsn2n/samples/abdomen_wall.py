"""The frame of the abdomen phantom in HU: body outline, skin, fat, muscle wall, spine, ribs,
paraspinal muscles and psoas, the lung bases above the diaphragm, and the scanner table.

Radiological view: the patient's right is on the image's left (x < 0), anterior at the top (y > 0),
cranial towards slice 0 (z > 0). Lengths in mm; values in HU (portal-venous phase).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .shapes import Canvas, Grid, ellipse, tube

# tissue classes of the abdomen phantom (index = label; 0 = air outside the body)
TISSUES = (
    "air",
    "skin",
    "fat",
    "muscle",
    "visceral fat",
    "bone cortex",
    "bone marrow",
    "disc",
    "spinal canal",
    "lung",
    "liver",
    "vessel",
    "spleen",
    "kidney",
    "renal sinus",
    "pancreas",
    "stomach",
    "bowel",
    "gallbladder",
    "adrenal",
    "cartilage",
    "table",
)
SOFT_TISSUE = ("fat", "muscle", "visceral fat")


@dataclass(frozen=True)
class BodyFrame:
    """Per-seed body habitus: outline semi-axes (mm), fat thickness, spine and dome positions."""

    half_width: float  # lateral semi-axis at z = 0
    anterior: float  # anterior semi-axis
    posterior: float  # posterior semi-axis
    fat: float  # subcutaneous fat at the flanks
    wobble: np.ndarray  # (harmonics, 2): amplitude and phase of the outline's ripple
    spine_y: float  # centre of the vertebral bodies (y)
    level_phase: float  # z of a disc centre
    dome_right: float  # height of the right diaphragm dome
    dome_left: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> BodyFrame:
        posterior = rng.uniform(100, 112)
        harmonics = np.stack([rng.uniform(0.0, 0.012, 5), rng.uniform(0, 2 * np.pi, 5)], axis=1)
        return cls(
            half_width=rng.uniform(150, 166),
            anterior=rng.uniform(108, 122),
            posterior=posterior,
            fat=rng.uniform(12, 24),
            wobble=harmonics,
            spine_y=-posterior + rng.uniform(68, 76),
            level_phase=rng.uniform(0, 34),
            dome_right=rng.uniform(90, 100),
            dome_left=rng.uniform(82, 92),
        )

    def dome(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """z of the diaphragm below the lungs (the higher of the two domes)."""
        right = self.dome_right - 0.0055 * (x + 70) ** 2 - 0.0055 * (y - 10) ** 2
        left = self.dome_left - 0.0055 * (x - 70) ** 2 - 0.0055 * (y - 10) ** 2
        return np.maximum(right, left)


@dataclass(frozen=True)
class Section:
    """Per-voxel polar description of the body: radial depth below the skin (mm), angle from the
    posterior midline (0 at the spine, pi at the navel) and the body mask."""

    depth: np.ndarray
    angle: np.ndarray
    inside: np.ndarray


def body_section(grid: Grid, frame: BodyFrame) -> Section:
    z, y, x = grid.coords((slice(None),) * 3)
    radius = np.sqrt(x * x + y * y)
    theta = np.arctan2(y, x)
    ripple = np.zeros(theta.shape, np.float32)
    for m, (amplitude, phase) in enumerate(frame.wobble, start=2):
        ripple = ripple + amplitude * np.cos(m * theta + phase)
    half_width = frame.half_width * (1 + 0.0008 * z)  # the rib cage widens upwards
    semi_y = np.where(y > 0, frame.anterior, frame.posterior) * (1 + 0.0004 * z)
    p = 2.3
    rho = ((np.abs(x) / half_width) ** p + (np.abs(y) / semi_y) ** p) ** (1 / p)
    rho = np.maximum(rho / (1 + ripple), 1e-6)
    depth = (radius / rho - radius).astype(np.float32)
    angle = np.arccos(np.clip(-y / np.maximum(radius, 1e-6), -1, 1)).astype(np.float32)
    return Section(depth=depth, angle=np.broadcast_to(angle, depth.shape), inside=rho <= 1.0)


def paint_wall(canvas: Canvas, frame: BodyFrame, section: Section, textures: dict) -> None:
    """Skin, subcutaneous fat with septa, the muscle wall, and visceral fat inside it."""
    depth, angle = section.depth, section.angle
    everything = (slice(None),) * 3
    fat = frame.fat * (0.75 + 0.5 * np.sin(angle) ** 2 + 0.25 * (angle > 2.2))
    muscle = np.where(angle < 0.55, 5.0, np.where(angle > 2.75, 9.0, 12.0))
    fat_hu = -100 + 4 * textures["grain"] + 70 * (np.abs(textures["strands"]) < 0.06)
    muscle_hu = 52 + 4 * textures["grain"]
    canvas.paint((everything, section.inside), fat_hu, "fat")
    canvas.paint((everything, section.inside & (depth < 2.0)), 40.0, "skin")
    wall = section.inside & (depth >= fat) & (depth < fat + muscle)
    # thin fat planes between the three lateral muscles (obliques, transversus)
    inner = depth - fat
    planes = (np.abs(inner - 0.35 * muscle) < 0.6) | (np.abs(inner - 0.7 * muscle) < 0.6)
    planes &= (angle > 0.9) & (angle < 2.5)
    canvas.paint((everything, wall & ~planes), muscle_hu, "muscle")
    cavity = section.inside & (depth >= fat + muscle)
    visceral = -95 + 5 * textures["grain"] + 60 * (np.abs(textures["strands"]) < 0.035)
    canvas.paint((everything, cavity), visceral, "visceral fat")


def _bone(canvas: Canvas, shell, marrow, textures: dict) -> None:
    """Cortical bone over ``shell``, trabecular marrow (grainy) over ``marrow``."""
    canvas.paint(shell, 850.0, "bone cortex")
    if marrow is not None:
        canvas.paint(marrow, 250 + 30 * textures["marrow"][marrow[0]], "bone marrow")


def paint_spine(canvas: Canvas, frame: BodyFrame, textures: dict) -> None:
    """Vertebral bodies with discs between them, the canal and cord, the posterior arch (pedicles,
    laminae, spinous and transverse processes at mid-level), the erector spinae and the psoas."""
    grid = canvas.grid
    yb = frame.spine_y
    canal_y = yb - 27
    period, disc = 34.0, 8.0  # vertebral level and disc height (mm)
    soft = ("visceral fat", "muscle")
    for k, zk in enumerate(grid.z):
        for side in (-1, 1):
            back = ellipse(grid, k, (canal_y - 20, side * 36), (22, 27), side * 12)
            canvas.paint(
                back, 50 + 5 * textures["grain"][back[0]] if back else 0, "muscle", within=soft
            )
            size = float(np.clip((8 - zk) / 60, 0, 1))  # the psoas grows below the diaphragm
            if size > 0:
                psoas = ellipse(
                    grid,
                    k,
                    (yb - 2, side * (30 + 8 * size)),
                    (12 * size + 3, 17 * size + 4),
                    side * 35,
                )
                canvas.paint(psoas, 52.0, "muscle", within=("visceral fat",))
        phase = (zk - frame.level_phase) % period
        body = ellipse(grid, k, (yb, 0), (16, 22))
        if phase < disc:  # the disc: annulus brighter than the nucleus
            canvas.paint(body, 95.0, "disc")
            canvas.paint(ellipse(grid, k, (yb - 2, 0), (9, 13)), 75.0, "disc")
        else:
            endplate = phase < disc + 2.5 or phase > period - 2.5
            marrow = None if endplate else ellipse(grid, k, (yb, 0), (14.5, 20.5))
            _bone(canvas, body, marrow, textures)
        if disc + 3 < phase < period - 4:  # pedicles and laminae
            _bone(canvas, ellipse(grid, k, (canal_y - 1, 0), (13, 15)), None, textures)
            spinous = tube(grid, [(zk, canal_y - 10, 0), (zk, canal_y - 36, 0)], [3.2, 2.2])
            _bone(canvas, _in_slice(spinous, k), None, textures)
            if abs(phase - (disc + period) / 2) < 6:
                for side in (-1, 1):
                    process = tube(
                        grid, [(zk, canal_y + 4, side * 12), (zk, canal_y + 2, side * 42)], 3.5
                    )
                    _bone(canvas, _in_slice(process, k), None, textures)
        canvas.paint(ellipse(grid, k, (canal_y, 0), (8, 10)), 8.0, "spinal canal")
        if zk > -25:  # the cord ends (conus) near L1-L2
            canvas.paint(ellipse(grid, k, (canal_y, 0), (4.0, 5.0)), 35.0, "spinal canal")


def _in_slice(region, k: int):
    """``region`` limited to slice ``k``."""
    box, mask = region
    if not box[0].start <= k < box[0].stop:
        return None
    row = k - box[0].start
    return (slice(k, k + 1), box[1], box[2]), mask[row : row + 1]


def paint_ribs(
    canvas: Canvas, frame: BodyFrame, section: Section, textures: dict, rng: np.random.Generator
) -> None:
    """Lower ribs: flat bones descending from the spine towards the front (deep to the back
    muscles near the spine, in the wall further round), so their sections are ovals sliding
    along the wall from slice to slice; costal cartilage continues them in front."""
    band = np.flatnonzero(section.inside & (section.depth < frame.fat + 45)).astype(np.int64)
    depth, angle = section.depth.reshape(-1)[band], section.angle.reshape(-1)[band]
    plane = canvas.grid.shape[1] * canvas.grid.shape[2]
    z = canvas.grid.z[band // plane]
    x = canvas.grid.x[band % canvas.grid.shape[2]]
    grain = textures["grain"].reshape(-1)[band]
    dd = depth - (frame.fat + 6.0 + 28.0 * np.clip(1 - (angle - 0.35) / 0.6, 0, 1))
    girth = 0.5 * (frame.half_width + frame.anterior)
    for side in (-1, 1):
        on_side = np.sign(x) == side
        for rib in range(7):
            start = 95 - 24 * rib + rng.uniform(-4, 4)
            end_angle = 2.9 - 0.22 * rib + rng.uniform(-0.1, 0.1)
            dz = (z - (start - 0.5 * girth * (angle - 0.35))) * 0.9
            near = on_side & (np.abs(dz) < 6.0) & (np.abs(dd) < 4.0) & (angle > 0.35)
            if not near.any():
                continue
            q = (dz[near] / 5.5) ** 2 + (dd[near] / 4.0) ** 2
            bone = angle[near] < end_angle
            shell = band[near][bone & (q <= 1)]
            canvas.paint_flat(shell, 850.0, "bone cortex", within=SOFT_TISSUE)
            inner = near.nonzero()[0][bone & ((dz[near] / 3.8) ** 2 + (dd[near] / 2.3) ** 2 <= 1)]
            canvas.paint_flat(
                band[inner], 260 + 40 * grain[inner], "bone marrow", within=("bone cortex",)
            )
            cartilage = (angle[near] >= end_angle) & (angle[near] < end_angle + 0.35) & (q <= 0.8)
            canvas.paint_flat(band[near][cartilage], 120.0, "cartilage", within=("muscle", "fat"))


def paint_lungs(canvas: Canvas, frame: BodyFrame, textures: dict) -> None:
    """Lung bases: inside the muscle wall, above the diaphragm domes (posterior recesses first)."""
    z, y, x = canvas.grid.coords((slice(None),) * 3)
    lung = z > frame.dome(x, y) + 3.0
    lung_hu = -860 + 25 * textures["grain"]
    canvas.paint(
        ((slice(None),) * 3, lung & (np.abs(x) > 20)), lung_hu, "lung", within=("visceral fat",)
    )


def paint_table(canvas: Canvas, frame: BodyFrame) -> None:
    """The scanner table: a thin curved plate under the back."""
    z, y, x = canvas.grid.coords((slice(None),) * 3)
    top = -frame.posterior - 6 + 0.0006 * x * x
    plate = (y < top) & (y > top - 5) & (np.abs(x) < 170) & np.ones(z.shape, bool)
    canvas.paint(((slice(None),) * 3, plate), 120.0, "table", within=("air",))
