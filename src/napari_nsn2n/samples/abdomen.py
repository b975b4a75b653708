"""The abdomen phantom in HU: frame (abdomen_wall), organs (abdomen_viscera) and numbered small
lesions placed inside their host organs, then a slight blur for partial volume.

Lesions (per seed, each where its host has room): liver cysts, hypodense metastases, hypervascular
lesions and a calcified granuloma; a splenic lesion; a renal cyst and a stone; a pancreatic cystic
lesion; a sclerotic and a lytic bone lesion; a lung nodule; lymph nodes in the mesenteric fat;
calcified plaques in the aortic wall. Together with the liver's vein branches and the mesenteric
vessels they are the inserts of the sample.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .abdomen_viscera import paint_hollow_organs, paint_solid_organs, paint_vessels
from .abdomen_wall import (
    TISSUES,
    BodyFrame,
    body_section,
    paint_lungs,
    paint_ribs,
    paint_spine,
    paint_table,
    paint_wall,
)
from .shapes import Canvas, Grid, ellipsoid, fine_texture, random_field

FOV_MM = 380.0  # in-plane field of view (the body, 300-330 mm wide, fits the scan circle)
SLICE_MM = 2.5
CENTRE_Z_MM = 8.0  # the slab's centre: between the liver's dome and the kidneys' lower poles

# (name, host tissue, HU, radius range in mm, how many)
LESIONS: tuple[tuple[str, str, float, tuple[float, float], int], ...] = (
    ("liver cyst", "liver", 8.0, (3.0, 7.0), 2),
    ("hypodense liver metastasis", "liver", 62.0, (3.0, 6.0), 2),
    ("hypervascular liver lesion", "liver", 168.0, (2.0, 4.0), 2),
    ("calcified liver granuloma", "liver", 700.0, (1.2, 2.0), 1),
    ("splenic lesion", "spleen", 68.0, (3.0, 5.0), 1),
    ("renal cyst", "kidney", 8.0, (3.0, 6.0), 1),
    ("renal stone", "kidney", 900.0, (1.2, 2.2), 1),
    ("pancreatic cystic lesion", "pancreas", 22.0, (2.5, 4.0), 1),
    ("sclerotic bone island", "bone marrow", 900.0, (2.0, 3.5), 1),
    ("lytic bone lesion", "bone marrow", 60.0, (3.0, 4.5), 1),
    ("lung nodule", "lung", 30.0, (2.0, 4.0), 1),
    ("lymph node", "visceral fat", 45.0, (2.5, 5.0), 3),
)


def abdomen_spacing(shape: tuple[int, int, int]) -> tuple[float, float, float]:
    """Voxel spacing (dz, dy, dx) in mm: 2.5 mm slices, the 380 mm field over the larger side."""
    pixel = FOV_MM / max(shape[1], shape[2])
    return (SLICE_MM, pixel, pixel)


def _textures(grid: Grid, rng: np.random.Generator) -> dict[str, np.ndarray]:
    pixel = grid.spacing[1]
    return {
        "grain": fine_texture(grid.shape, (0.3, 0.6, 0.6), rng),
        "marrow": random_field(grid.shape, grid.spacing, 2.5, rng),
        "mottle": random_field(grid.shape, grid.spacing, 5.0, rng),
        "strands": random_field(grid.shape, grid.spacing, 9.0, rng),
        "shape": random_field(grid.shape, grid.spacing, max(30.0, 8 * pixel), rng),
    }


def _place_lesions(canvas: Canvas, frame: BodyFrame, rng: np.random.Generator) -> None:
    grid, pixel = canvas.grid, canvas.grid.spacing[1]
    for name, host, hu, (low, high), count in LESIONS:
        host_label = canvas.tissue(host)
        for _ in range(count):
            radius = float(rng.uniform(low, high))
            centre = canvas.site(host, 1.25 * radius + pixel, rng)
            if centre is None:
                continue
            axes = radius * np.array([1.0, *rng.uniform(0.8, 1.2, 2)])
            region = ellipsoid(grid, centre, axes, float(rng.uniform(0, 180)))
            if region is not None:
                box, mask = region
                mask = mask & (canvas.tissues[box] == host_label) & (canvas.inserts[box] == 0)
                canvas.insert((box, mask), hu, f"{name} ({2 * radius:.1f} mm)")
    vessel = canvas.tissue("vessel")
    for _ in range(2):  # calcified plaques on the aortic wall
        k = int(rng.integers(0, grid.shape[0]))
        angle = rng.uniform(0, 2 * np.pi)
        z = float(grid.z[k])
        aorta = (frame.spine_y + 27, 14 + 0.05 * z)  # as abdomen_viscera paints it
        centre = np.array([z, aorta[0] + 10.5 * np.sin(angle), aorta[1] + 10.5 * np.cos(angle)])
        region = ellipsoid(grid, centre, (2.5, 1.6, 1.6))
        if region is not None:
            box, mask = region
            mask = mask & (canvas.tissues[box] == vessel) & (canvas.inserts[box] == 0)
            canvas.insert((box, mask), 900.0, "aortic wall calcification (3.2 mm)")


def abdomen_phantom(shape: tuple[int, int, int], seed: int = 0) -> Canvas:
    """The painted abdomen (HU, tissue and insert labels), blurred slightly (partial volume)."""
    grid = Grid(shape, abdomen_spacing(shape), CENTRE_Z_MM + (shape[0] - 1) / 2 * SLICE_MM)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 17]))
    frame = BodyFrame.random(rng)
    textures = _textures(grid, rng)
    canvas = Canvas(grid, background=-1000.0, tissue_names=TISSUES)
    section = body_section(grid, frame)
    paint_wall(canvas, frame, section, textures)
    paint_lungs(canvas, frame, textures)
    paint_spine(canvas, frame, textures)
    paint_ribs(canvas, frame, section, textures, rng)
    paint_solid_organs(canvas, frame, textures, rng)
    paint_vessels(canvas, frame, rng)
    paint_hollow_organs(canvas, frame, textures, rng)
    _place_lesions(canvas, frame, rng)
    paint_table(canvas, frame)
    canvas.values = ndimage.gaussian_filter(canvas.values, (0.35, 0.5, 0.5), mode="nearest")
    return canvas
