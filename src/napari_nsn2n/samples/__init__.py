"""Synthetic noisy 3D stacks (CT, MRI, fluorescence microscopy) generated offline.

Everything here is computed from scratch with numpy / scipy / scikit-image (no downloads), is
deterministic for a given ``seed`` and returns a :class:`SampleStack` holding the noisy stack, its
noiseless reference (for metrics), the voxel spacing and a suggested NS-N2N mask threshold ``th``
(on the [0, 1] min-max normalised scale).

* :func:`ct_stack`: low-dose CT simulated per slice (Poisson counts on ``radon`` projections, log,
  filtered back-projection), so the noise is streaky / correlated within a slice and independent
  across slices.
* :func:`mri_stack`: Rician noise at a fraction of the maximum (paper sec. 4.3: 5 / 7 / 9 %).
* :func:`microscopy_stack`: Poisson-Gaussian camera noise on a blob + filament volume, ``uint16``.
"""

from __future__ import annotations

from collections.abc import Callable

from .base import LICENCE, SampleStack
from .ct import ct_stack
from .microscopy import microscopy_stack
from .mri import mri_stack, mri_threshold
from .phantom import phantom_volume

__all__ = [
    "LICENCE",
    "SAMPLES",
    "SAMPLE_SHAPES",
    "SampleStack",
    "ct_stack",
    "microscopy_stack",
    "mri_stack",
    "mri_threshold",
    "phantom_volume",
]

# the sizes of the viewer's sample menu and the demo (generated in seconds on one core)
SAMPLE_SHAPES: dict[str, tuple[int, int, int]] = {
    "ct": (32, 192, 192),
    "mri": (48, 256, 256),
    "microscopy": (32, 256, 256),
}
SAMPLES: dict[str, Callable[..., SampleStack]] = {
    "ct": ct_stack,
    "mri": mri_stack,
    "microscopy": microscopy_stack,
}
