"""Brain MRI of the brain phantom: T1- or T2-weighted tissue signal with a smooth texture, a coil
bias field, the resolution of a truncated k-space (slight Gibbs ringing), and Rician magnitude
noise at a chosen level."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .base import LICENCE, SampleStack
from .brain import TISSUES, paint_brain
from .mri import mri_threshold
from .shapes import Canvas, Grid, random_field

FOV_MM = 240.0
SLICE_MM = 2.5
CENTRE_Z_MM = 28.0  # the slab's centre: from the vertex down to the thalami and third ventricle
K_SPACE_FRACTION = 0.85  # share of k-space acquired in-plane (the rest zero-filled)

# signal per tissue (spin-echo-like, normalised): T1-weighted and T2-weighted
SIGNAL = {
    "t1": {
        "air": 0.0,
        "skin": 0.45,
        "fat": 0.95,
        "muscle": 0.35,
        "bone": 0.02,
        "diploe": 0.62,
        "csf": 0.12,
        "dura": 0.1,
        "grey matter": 0.52,
        "white matter": 0.78,
        "caudate": 0.55,
        "putamen": 0.57,
        "pallidum": 0.63,
        "thalamus": 0.62,
        "choroid plexus": 0.45,
        "vessel": 0.04,
    },
    "t2": {
        "air": 0.0,
        "skin": 0.45,
        "fat": 0.7,
        "muscle": 0.22,
        "bone": 0.02,
        "diploe": 0.5,
        "csf": 1.0,
        "dura": 0.1,
        "grey matter": 0.56,
        "white matter": 0.38,
        "caudate": 0.53,
        "putamen": 0.47,
        "pallidum": 0.3,
        "thalamus": 0.46,
        "choroid plexus": 0.62,
        "vessel": 0.04,
    },
}
INSERT_SIGNAL = {
    "t1": {
        "white-matter lesion": 0.52,
        "lacune": 0.14,
        "cortical lesion": 0.4,
        "cortical artery": 0.04,
    },
    "t2": {
        "white-matter lesion": 0.8,
        "lacune": 0.95,
        "cortical lesion": 0.78,
        "cortical artery": 0.04,
    },
}


def brain_spacing(shape: tuple[int, int, int]) -> tuple[float, float, float]:
    pixel = FOV_MM / max(shape[1], shape[2])
    return (SLICE_MM, pixel, pixel)


def _k_space_blur(volume: np.ndarray) -> np.ndarray:
    """Keep the central ``K_SPACE_FRACTION`` of each slice's k-space (a mild Tukey edge)."""
    ny, nx = volume.shape[1:]
    fy = np.abs(np.fft.fftfreq(ny))[:, None] / 0.5
    fx = np.abs(np.fft.rfftfreq(nx))[None, :] / 0.5
    radius = np.maximum(fy, fx) / K_SPACE_FRACTION
    window = np.where(radius <= 0.85, 1.0, 0.5 * (1 + np.cos(np.pi * (radius - 0.85) / 0.15)))
    window[radius > 1] = 0.0
    spectrum = np.fft.rfft2(volume) * window.astype(np.float32)
    return np.fft.irfft2(spectrum, s=(ny, nx)).astype(np.float32)


def brain_mri_stack(
    shape: tuple[int, int, int] = (40, 256, 256),
    level: float = 0.04,
    contrast: str = "t1",
    seed: int = 0,
) -> SampleStack:
    """Brain MRI of an axial slab, 2.5 mm slices, Rician noise of sigma = ``level`` x max(clean).

    ``contrast``: "t1" (white matter bright, CSF dark, lesions hypointense) or "t2" (CSF bright,
    lesions hyperintense). ``clean`` is the noiseless magnitude image (bias field and k-space
    resolution included). ``inserts`` labels the small lesions and cortical arteries.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be (Z, Y, X) with positive sizes, got {shape}")
    if level < 0:
        raise ValueError("level must be >= 0")
    if contrast not in SIGNAL:
        raise ValueError(f"contrast must be one of {tuple(SIGNAL)}, got {contrast!r}")
    spacing = brain_spacing(shape)
    grid = Grid(shape, spacing, CENTRE_Z_MM + (shape[0] - 1) / 2 * SLICE_MM)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 21]))
    canvas = Canvas(grid, background=0.0, tissue_names=TISSUES)
    kinds = paint_brain(canvas, rng)
    lut = np.array([SIGNAL[contrast][name] for name in TISSUES], np.float32)
    signal = lut[canvas.tissues]
    texture = random_field(shape, spacing, 6.0, rng)
    brain = canvas.tissues >= canvas.tissue("grey matter")
    signal = np.where(brain, signal * (1 + 0.03 * texture), signal)
    for label, kind in enumerate(kinds, start=1):
        signal[canvas.inserts == label] = INSERT_SIGNAL[contrast][kind]
    bias = 1 + 0.08 * random_field(shape, spacing, 120.0, rng)
    clean = _k_space_blur(ndimage.gaussian_filter1d(signal * bias, 0.4, axis=0))
    clean = np.abs(clean)
    sigma = float(level) * float(clean.max())
    noise_rng = np.random.default_rng(np.random.SeedSequence([seed, 22]))
    real = clean + noise_rng.standard_normal(shape, dtype=np.float32) * sigma
    imaginary = noise_rng.standard_normal(shape, dtype=np.float32) * sigma
    noisy = np.sqrt(real * real + imaginary * imaginary).astype(np.float32)
    weighting = "T1" if contrast == "t1" else "T2"
    description = (
        f"Synthetic {weighting}-weighted brain MRI, axial slab of {shape[0]} slices at "
        f"{spacing[0]:g} mm, {spacing[1]:.2f} mm pixels: scalp, skull with diploe, CSF, a folded "
        f"cortex, white matter, basal ganglia and thalami, ventricles with choroid plexus, "
        f"Sylvian fissures, sinus and arteries, and {len(kinds)} small inserts (white-matter "
        f"lesions, lacunes, cortical lesions, cortical arteries); a smooth coil bias field and "
        f"{K_SPACE_FRACTION:.0%} of k-space. Rician noise: noisy = |clean + n1 + i n2|, n1, n2 ~ "
        f"N(0, sigma^2), sigma = {level:.3g} x max. {LICENCE}"
    )
    return SampleStack(
        noisy=noisy,
        clean=clean.astype(np.float32),
        spacing=spacing,
        name=f"Brain MRI ({weighting}, Rician {level * 100:.3g} %)",
        description=description,
        units="a.u.",
        suggested_threshold=mri_threshold(level),
        inserts=canvas.inserts,
        insert_names=tuple(canvas.insert_names),
        tissues=canvas.tissues,
        tissue_names=TISSUES,
    )
