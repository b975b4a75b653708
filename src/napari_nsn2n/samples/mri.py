"""T1-like head MRI with Rician noise (magnitude of complex Gaussian noise), paper sec. 4.3."""

from __future__ import annotations

import numpy as np

from .base import LICENCE, SampleStack
from .phantom import head_spacing, paint_head


def mri_threshold(level: float) -> float:
    """Paper th for Rician level L (0.05 -> 0.01, 0.07 -> 0.03, 0.09 -> 0.05), linear, >= L / 5."""
    return float(round(max(level - 0.04, level / 5.0), 4))


def mri_stack(
    shape: tuple[int, int, int] = (48, 256, 256), level: float = 0.05, seed: int = 0
) -> SampleStack:
    """T1-like head phantom with Rician noise, sigma = ``level`` * max(clean) (paper sec. 4.3);
    ``inserts`` labels its small lesions, oblique vessels and calcifications."""
    if level < 0:
        raise ValueError("level must be >= 0")
    volume, labels = paint_head(shape, seed, column=1)
    clean = np.clip(volume, 0.0, 1.0).astype(np.float32)  # = phantom_volume(shape, seed)
    sigma = float(level) * float(clean.max())
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    n1 = rng.standard_normal(clean.shape, dtype=np.float32) * sigma
    n2 = rng.standard_normal(clean.shape, dtype=np.float32) * sigma
    noisy = np.sqrt((clean + n1) ** 2 + n2**2).astype(np.float32)
    description = (
        f"Synthetic T1-like head MRI: the 3D Shepp-Logan-like phantom of phantom_volume (zero "
        f"background, max 1) with Rician noise, noisy = sqrt((clean + n1)^2 + n2^2), n1, n2 ~ "
        f"N(0, sigma^2), sigma = {level:.3g} x max (as in NS-N2N sec. 4.3; background mean is "
        f"sigma*sqrt(pi/2)). {LICENCE}"
    )
    return SampleStack(
        noisy=noisy,
        clean=clean,
        spacing=head_spacing(clean.shape),
        name=f"MRI-like phantom (Rician {level * 100:.3g} %)",
        description=description,
        units="a.u.",
        suggested_threshold=mri_threshold(level),
        **labels.fields(),
    )
