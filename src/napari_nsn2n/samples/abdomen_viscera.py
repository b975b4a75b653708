"""The organs of the abdomen phantom in HU (portal-venous phase): liver with its vein trees,
gallbladder, spleen, stomach with an air-fluid level, pancreas, duodenum, kidneys with cortex,
pyramids and sinus, adrenals, aorta and its branches, caval, portal, splenic and mesenteric veins,
colon with stool and gas, small-bowel loops, mesenteric vessels.

Positions are relative to the body frame (``abdomen_wall.BodyFrame``) and jittered per seed; the
liver's small vein branches and the mesenteric vessels are numbered inserts (small structures whose
contrast a denoiser must keep), everything larger is tissue.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from .abdomen_wall import BodyFrame
from .shapes import Canvas, ellipsoid, tube, wander

_SOFT = ("visceral fat",)


def _organ(canvas: Canvas, centre, axes, angle, shape_field, amount=0.12):
    """An ellipsoid whose outline is lobulated by the smooth ``shape_field``."""
    region = ellipsoid(canvas.grid, centre, np.asarray(axes) * (1 + amount), angle)
    if region is None:
        return None
    box, _ = region
    z, y, x = canvas.grid.coords(box)
    cos, sin = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    dy, dx = y - centre[1], x - centre[2]
    q = ((z - centre[0]) / axes[0]) ** 2 + ((dy * cos - dx * sin) / axes[1]) ** 2
    q = q + ((dx * cos + dy * sin) / axes[2]) ** 2
    return box, q <= 1.0 + amount * shape_field[box]


def _hollow(canvas: Canvas, points, radius, wall: float, wall_hu: float, tissue: str, content):
    """A tube with a wall of ``wall_hu`` and a lumen filled by ``content(box, mask)`` -> HU."""
    outer = tube(canvas.grid, points, radius)
    canvas.paint(outer, wall_hu, tissue, within=_SOFT)
    lumen = tube(canvas.grid, points, np.maximum(np.asarray(radius, float) - wall, 0.5))
    box, mask = lumen
    if mask.size:
        canvas.paint(lumen, content(box), tissue, within=(tissue,))


def _jitter(rng: np.random.Generator, point, spread: float = 4.0) -> np.ndarray:
    return np.asarray(point, float) + rng.normal(0.0, spread, 3)


def paint_solid_organs(canvas: Canvas, frame: BodyFrame, textures: dict, rng) -> None:
    """Liver (under the right dome), gallbladder, spleen, kidneys, adrenals, pancreas."""
    grid, shape = canvas.grid, textures["shape"]
    z, y, x = grid.coords((slice(None),) * 3)
    below_dome = z < frame.dome(x, y) - 4.0
    liver_hu = 108 + 5 * textures["mottle"]
    for centre, axes, angle in (
        ((35, 5, -62), (80, 88, 88), -10),  # right lobe
        ((48, 48, 18), (30, 32, 58), 15),  # left lobe, across the midline in front
    ):
        region = _organ(canvas, _jitter(rng, centre), axes, angle, shape)
        if region is not None:
            box, mask = region
            canvas.paint((box, mask & below_dome[box]), liver_hu[box], "liver", within=_SOFT)
    gall = _jitter(rng, (2, 38, -52), 3)
    canvas.paint(ellipsoid(grid, gall, (23, 15, 13), 30), 55.0, "gallbladder", within=("liver",))
    canvas.paint(
        ellipsoid(grid, gall, (21, 13, 11), 30), 10.0, "gallbladder", within=("gallbladder",)
    )
    spleen_centre = _jitter(rng, (38, -32, 100))
    region = _organ(canvas, spleen_centre, (48, 52, 24), -50, shape)
    if region is not None:
        box, mask = region
        canvas.paint(
            (box, mask & below_dome[box]), 118 + 4 * textures["mottle"][box], "spleen", within=_SOFT
        )
    canvas.paint(
        ellipsoid(grid, np.add(spleen_centre, (0, 22, -22)), (22, 14, 12)),
        -90.0,
        "visceral fat",
        within=("spleen",),
    )  # the hilum's notch
    yb = frame.spine_y
    for side, level in ((-1, -28.0), (1, -16.0)):
        centre = _jitter(rng, (level, yb + 4, side * 68), 3)
        angle = -side * 30
        canvas.paint(
            ellipsoid(grid, centre, (52, 28, 22), angle),
            172.0,
            "kidney",
            within=(*_SOFT, "liver", "spleen"),
        )
        for k in range(7):  # medullary pyramids around the sinus
            t = 2 * np.pi * k / 7
            pyramid = np.add(centre, (34 * np.cos(t), 12 * np.sin(t), 7 * np.sin(t) * side))
            canvas.paint(
                ellipsoid(grid, pyramid, (9, 6, 6), angle), 128.0, "kidney", within=("kidney",)
            )
        hilum = np.add(centre, (0, 10, -side * 9))
        canvas.paint(
            ellipsoid(grid, hilum, (26, 9, 8), angle), -70.0, "renal sinus", within=("kidney",)
        )
        pelvis = [
            np.add(hilum, step)
            for step in (
                (4, 0, -side * 2),
                (-10, 2, -side * 10),
                (-40, 6, -side * 8),
                (-120, 8, -side * 4),
            )
        ]
        canvas.paint(
            tube(grid, pelvis, np.array([5.0, 3.5, 2.2, 2.0])),
            12.0,
            "renal sinus",
            within=(*_SOFT, "renal sinus", "kidney"),
        )
        apex = _jitter(rng, (12 - 2 * side, yb + 28 - 4 * side, side * 32), 2)
        for limb in ((-10, -16, side * -8), (-10, -10, side * 8)):  # adrenal: an inverted V
            canvas.paint(tube(grid, [apex, apex + limb], 2.4), 55.0, "adrenal", within=_SOFT)
    head, neck = _jitter(rng, (-8, yb + 42, -30), 3), (0, yb + 56, -6)
    path = [head, neck, (6, yb + 52, 28), _jitter(rng, (14, yb + 30, 70), 3)]
    pancreas = tube(grid, path, np.array([12.0, 9.0, 8.5, 7.5]))
    box, mask = pancreas
    lobules = np.abs(textures["strands"][box]) < 0.05
    canvas.paint((box, mask & ~lobules), 100 + 6 * textures["grain"][box], "pancreas", within=_SOFT)


def paint_vessels(canvas: Canvas, frame: BodyFrame, rng) -> None:
    """Aorta and IVC through the slab; celiac, hepatic, splenic, mesenteric and renal vessels; the
    portal vein into the liver's hilum; the liver's vein trees with small branches as inserts."""
    grid, yb = canvas.grid, frame.spine_y
    top, bottom = float(grid.z[0]) + 10, float(grid.z[-1]) - 10
    aorta = lambda zz: (zz, yb + 27, 14 + 0.05 * zz)  # noqa: E731
    canvas.paint(tube(grid, [aorta(top), aorta(bottom)], 11.5), 165.0, "vessel")
    canvas.paint(tube(grid, [(top, yb + 24, -26), (bottom, yb + 20, -24)], 12.0), 130.0, "vessel")
    art, vein = 170.0, 155.0
    vessels = [
        (
            [aorta(20), (22, yb + 55, 10), (26, yb + 52, -30), (30, yb + 42, -50)],
            [3.5, 2.8, 2.4, 2.2],
            art,
        ),
        (
            [(22, yb + 55, 10), (22, yb + 48, 40), (20, yb + 30, 70), (22, yb + 15, 88)],
            [2.8, 2.6, 2.4, 2.2],
            art,
        ),
        ([aorta(8), (-10, yb + 55, 10), (-60, yb + 64, 6)], [3.6, 3.4, 3.0], art),
        (
            [(-60, yb + 66, -10), (0, yb + 54, -10), (18, yb + 44, -40), (24, yb + 38, -54)],
            [5.5, 6.5, 7.0, 6.5],
            vein,
        ),
        (
            [(0, yb + 50, -10), (6, yb + 44, 25), (14, yb + 24, 65), (20, yb + 12, 86)],
            [4.5, 4.5, 4.2, 4.0],
            vein,
        ),
        ([aorta(-14), (-16, yb + 30, 40), (-16, yb + 14, 58)], [3.0, 2.8, 2.6], art),
        ([aorta(-18), (-20, yb + 16, -40), (-22, yb + 12, -58)], [3.0, 2.8, 2.6], art),
        (
            [(-18, yb + 14, 58), (-16, yb + 40, 26), (-14, yb + 44, 0), (-12, yb + 24, -24)],
            [5.0, 4.8, 4.5, 5.5],
            vein,
        ),
        ([(-24, yb + 12, -56), (-22, yb + 20, -30)], [5.0, 5.5], vein),
    ]
    for points, radii, hu in vessels:
        canvas.paint(
            tube(grid, points, np.array(radii)),
            hu,
            "vessel",
            within=(*_SOFT, "pancreas", "liver", "vessel", "renal sinus"),
        )
    liver = canvas.tissue("liver")
    ivc_top = np.array([55.0, yb + 24, -26])
    hilum = np.array([24.0, yb + 38, -54])
    trunks = [  # (start, direction, length, start radius, HU): hepatic veins, portal branches
        (ivc_top, (-0.35, -0.45, -0.8), 80, 5.0, 150.0),
        (ivc_top, (-0.45, 0.6, -0.3), 70, 4.5, 150.0),
        (ivc_top, (-0.15, 0.55, 0.8), 60, 4.0, 150.0),
        (hilum, (0.15, -0.55, -0.8), 70, 5.0, 165.0),
        (hilum, (0.2, 0.7, 0.6), 60, 4.0, 165.0),
        (hilum, (0.1, 0.2, -0.95), 60, 4.0, 165.0),
    ]
    for start, direction, length, radius, hu in trunks:
        steps = max(4, int(length / 5))
        path = wander(start, direction, steps, 5.0, 0.12, rng)
        radii = np.linspace(radius, 1.8, len(path))
        region = tube(grid, path, radii)
        box, mask = region
        if mask.size:
            canvas.paint(region, hu, "vessel", within=("liver",))
        for _ in range(4):  # branches: small, numbered
            at = rng.integers(2, len(path) - 1)
            turn = rng.normal(0, 1, 3)
            turn -= turn @ (path[at + 1] - path[at]) * (path[at + 1] - path[at]) / 25.0
            branch = wander(path[at], turn, 6, 4.0, 0.15, rng)
            width = float(rng.uniform(1.3, 2.4))
            box, mask = tube(grid, branch, np.linspace(width, 1.0, len(branch)))
            if mask.size:
                mask = mask & (canvas.tissues[box] == liver) & (canvas.inserts[box] == 0)
                canvas.insert((box, mask), hu, f"liver vein branch ({2 * width:.1f} mm)")


def paint_hollow_organs(canvas: Canvas, frame: BodyFrame, textures: dict, rng) -> None:
    """Stomach (air over fluid), duodenum, colon with stool and gas, small-bowel loops."""
    grid, yb = canvas.grid, frame.spine_y
    grain, mottle = textures["grain"], textures["mottle"]
    fundus = _jitter(rng, (40, 30, 52), 3)
    air_level = fundus[1] + 14
    canvas.paint(ellipsoid(grid, fundus, (40, 42, 40), 20), 95.0, "stomach", within=_SOFT)
    lumen = ellipsoid(grid, fundus, (36, 38, 36), 20)
    if lumen is not None:
        box, mask = lumen
        _, y, _ = grid.coords(box)
        hu = np.where(y > air_level, -1000.0, 22 + 6 * grain[box]).astype(np.float32)
        canvas.paint((box, mask), hu, "stomach", within=("stomach",))

    def fluid(box):
        return 18 + 6 * grain[box]

    def stool(box):
        gas = mottle[box] > 1.1
        return np.where(gas, -950.0, -40 + 70 * grain[box]).astype(np.float32)

    antrum = [np.add(fundus, (-12, 12, -8)), (8, 50, 5), (2, 40, -22)]
    _hollow(canvas, antrum, np.array([15.0, 12.0, 11.0]), 4.0, 95.0, "stomach", fluid)
    duodenum = [
        (2, 40, -22),
        (-5, yb + 52, -56),
        (-30, yb + 36, -52),
        (-38, yb + 44, -10),
        (-34, yb + 48, 22),
    ]
    _hollow(canvas, duodenum, 10.0, 2.5, 90.0, "bowel", fluid)
    colon = np.array(
        [
            (-60, 5, -104),
            (-12, 15, -98),
            (4, 42, -76),
            (-6, 70, -30),
            (-10, 72, 30),
            (16, 32, 92),
            (-10, -4, 106),
            (-60, -10, 108),
        ],
        float,
    )
    colon[:, 1:] += rng.normal(0, 3, (len(colon), 2))
    path = np.concatenate([np.linspace(a, b, 8, endpoint=False) for a, b in pairwise(colon)])
    s = np.cumsum(np.r_[0, np.linalg.norm(np.diff(path, axis=0), axis=1)])
    radii = np.interp(s, [0, s[-1] * 0.55, s[-1]], [20, 19, 15]) * (1 + 0.12 * np.sin(s / 9.0))
    _hollow(canvas, path, radii, 2.5, 65.0, "bowel", stool)
    box = (np.array([float(grid.z[-1]) - 5, 0, 0]), np.array([-4, 82, 92]))
    loop = wander(_jitter(rng, (-12, 40, 40), 3), (0.1, 0.3, 1.0), 44, 6.0, 0.45, rng, box)
    _hollow(canvas, loop, 10.0, 2.0, 100.0, "bowel", fluid)
    fat = canvas.tissue("visceral fat")
    for k in range(6):  # jejunal branches of the mesenteric vessels: small, numbered
        start = np.array([-15.0 - 7 * k, yb + 62, 8])
        branch = wander(start, (-0.1, 0.2 * rng.normal(), 1.0), 8, 5.0, 0.2, rng)
        width = float(rng.uniform(1.2, 1.8))
        box, mask = tube(grid, branch, np.linspace(width, 0.9, len(branch)))
        if mask.size:
            mask = mask & (canvas.tissues[box] == fat) & (canvas.inserts[box] == 0)
            canvas.insert((box, mask), 160.0, f"mesenteric vessel ({2 * width:.1f} mm)")
