"""npe2 sample data: the synthetic CT, MRI and microscopy stacks of :mod:`napari_nsn2n.samples`.

Each sample is one noisy image layer with ``scale`` = voxel spacing, contrast limits, and in its
metadata: ``"description"`` (how it was made, source and licence), ``"nsn2n_clean"`` (the
noiseless reference, same shape, for PSNR), ``"nsn2n_sample"`` (key, units, suggested threshold)
and ``"nsn2n_volume"`` (axes, spacing, unit; used when the layer is saved).

Sizes (generation time on one CPU core): CT (32, 192, 192) at 1.33 x 1.33 mm, 2.67 mm slices
(about 4 s; the full 48 x 256 x 256 default of ``ct_stack`` takes about 15 s); MRI
(48, 256, 256) at 1 x 1 mm, 2 mm slices (about 1 s); microscopy (32, 256, 256) uint16 at
0.2 x 0.2 um, 0.5 um steps (under 1 s).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..display import CT_WINDOW
from ..io import Volume
from ..samples import SAMPLE_SHAPES, SampleStack, ct_stack, microscopy_stack, mri_stack
from .layers import CLEAN_KEY, SAMPLE_KEY, layer_tuple

LICENCE = "BSD-3-Clause (generated offline by napari_nsn2n.samples; no external data)"
SOURCE = "napari_nsn2n.samples (synthetic)"
_UNIT = {"ct": "mm", "mri": "mm", "microscopy": "µm"}


def sample_layer(key: str, stack: SampleStack) -> list[tuple[Any, dict[str, Any], str]]:
    """``[(noisy, kwargs, "image")]`` for a generated :class:`SampleStack`."""
    volume = Volume(
        data=stack.noisy,
        axes="ZYX",
        spacing=stack.spacing,
        metadata={"unit": _UNIT.get(key, "mm"), "units": stack.units},
        source_format="sample",
    )
    info = {
        "key": key,
        "name": stack.name,
        "units": stack.units,
        "suggested_threshold": float(stack.suggested_threshold),
        "source": SOURCE,
        "licence": LICENCE,
        "shape": tuple(int(s) for s in stack.noisy.shape),
        "spacing": tuple(float(s) for s in stack.spacing),
    }
    data, kwargs, kind = layer_tuple(
        volume,
        name=stack.name,
        metadata={
            "description": stack.description,
            "source": SOURCE,
            "licence": LICENCE,
            SAMPLE_KEY: info,
            CLEAN_KEY: np.asarray(stack.clean),
        },
    )
    if key == "ct":
        kwargs["contrast_limits"] = CT_WINDOW  # brain structures and noise both visible
    kwargs["colormap"] = "gray"
    return [(data, kwargs, kind)]


def sample_ct() -> list[tuple[Any, dict[str, Any], str]]:
    """Low-dose head CT phantom in HU, (32, 192, 192), noise streaky within slices (FBP)."""
    return sample_layer("ct", ct_stack(SAMPLE_SHAPES["ct"]))


def sample_mri() -> list[tuple[Any, dict[str, Any], str]]:
    """T1-like head MRI phantom with 5 % Rician noise, (48, 256, 256)."""
    return sample_layer("mri", mri_stack(SAMPLE_SHAPES["mri"]))


def sample_microscopy() -> list[tuple[Any, dict[str, Any], str]]:
    """Fluorescence-like uint16 stack with Poisson-Gaussian noise, (32, 256, 256)."""
    return sample_layer("microscopy", microscopy_stack(SAMPLE_SHAPES["microscopy"]))
