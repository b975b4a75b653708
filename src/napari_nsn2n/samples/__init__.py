"""Synthetic noisy 3D stacks (CT, MRI, fluorescence microscopy) generated offline.

Everything here is computed from scratch with numpy / scipy / scikit-image (no downloads), is
deterministic for a given ``seed`` and returns a :class:`SampleStack`: the noisy stack, its
noiseless reference (for metrics), the voxel spacing, a suggested NS-N2N mask threshold ``th`` (on
the [0, 1] min-max normalised scale) and where the small structures are (``inserts`` labels, with
the ``tissues`` around them, for ``metrics.insert_contrast``).

Anatomy-like samples (the viewer's sample menu and the demo):

* :func:`abdomen_ct_stack`: low-dose abdominal CT in HU, simulated through projections, Poisson
  counts and filtered back-projection (noise correlated within slices, independent across them).
* :func:`brain_mri_stack`: T1- or T2-weighted brain MRI with Rician magnitude noise.
* :func:`cells_stack`: confocal-like fluorescence of a cell cluster, Poisson-Gaussian camera noise,
  uint16 counts.

Phantoms of the benchmark's tuned cases (kept bit for bit):

* :func:`ct_stack`: a Shepp-Logan-like head, low-dose CT per slice with scikit-image's radon.
* :func:`mri_stack`: the same head, Rician noise at a fraction of the maximum (paper sec. 4.3).
* :func:`microscopy_stack`: Poisson-Gaussian camera noise on a blob + filament volume, uint16.

``TUNED`` names the six cases the fitted defaults were chosen on; ``HELD_OUT`` names cases no rule
was tuned on (other anatomy, noise levels, filters and photon budgets). Each entry is a generator
callable with no argument (its default size) or with ``shape=`` / ``seed=``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from .base import LICENCE, SampleStack
from .cells import cells_stack
from .ct import ct_stack
from .ct_abdomen import abdomen_ct_stack
from .microscopy import microscopy_stack
from .mri import mri_stack, mri_threshold
from .mri_brain import brain_mri_stack
from .phantom import phantom_volume

__all__ = [
    "HELD_OUT",
    "LICENCE",
    "SAMPLES",
    "SAMPLE_SHAPES",
    "TUNED",
    "SampleStack",
    "abdomen_ct_stack",
    "brain_mri_stack",
    "cells_stack",
    "ct_stack",
    "microscopy_stack",
    "mri_stack",
    "mri_threshold",
    "phantom_volume",
]

# the sizes of the viewer's sample menu and the demo (generated in seconds on one core)
SAMPLE_SHAPES: dict[str, tuple[int, int, int]] = {
    "ct": (40, 256, 256),
    "mri": (40, 256, 256),
    "microscopy": (32, 256, 256),
}
SAMPLES: dict[str, Callable[..., SampleStack]] = {
    "ct": abdomen_ct_stack,
    "mri": brain_mri_stack,
    "microscopy": cells_stack,
}

# the six phantoms the fitted defaults (threshold rule, presets, L_RC rule) were chosen on
TUNED: dict[str, Callable[..., SampleStack]] = {
    "ct_ramp": partial(ct_stack, filter_name="ramp"),
    "ct_hann": partial(ct_stack, filter_name="hann"),
    "mri5": partial(mri_stack, level=0.05),
    "mri7": partial(mri_stack, level=0.07),
    "mri9": partial(mri_stack, level=0.09),
    "microscopy": partial(microscopy_stack),
}
# cases no fitted default was chosen on: other anatomy, and noise levels / filters / photon
# budgets other than the tuned cases'
HELD_OUT: dict[str, Callable[..., SampleStack]] = {
    "abdomen_ct": partial(abdomen_ct_stack),  # Shepp-Logan filter, low dose
    "abdomen_ct_quarter_hamming": partial(abdomen_ct_stack, dose=7.5e4, filter_name="hamming"),
    "brain_t1_4": partial(brain_mri_stack, level=0.04, contrast="t1"),
    "brain_t2_11": partial(brain_mri_stack, level=0.11, contrast="t2"),
    "cells_20": partial(cells_stack, photons=20.0),
    "cells_150": partial(cells_stack, photons=150.0, read_noise=3.0),
}
