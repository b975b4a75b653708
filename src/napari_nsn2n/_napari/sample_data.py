"""npe2 sample data (File > Open Sample > napari-nsn2n): the anatomy-like CT, MRI and fluorescence
stacks of :mod:`napari_nsn2n.samples`, at ``samples.SAMPLE_SHAPES``.

Each sample is one noisy image layer with ``scale`` = voxel spacing and ``units`` (mm, or µm for
microscopy), contrast limits (the soft-tissue window for CT), and in its metadata:
``"description"``, ``"source"`` and ``"licence"``; ``"nsn2n_clean"`` (the noiseless reference,
same shape, for PSNR); ``"nsn2n_sample"`` (key, name, intensity units, suggested threshold,
shape, spacing); ``"nsn2n_volume"`` (axes, spacing, unit; used when the layer is saved); and
``"nsn2n_inserts"``: where the small structures are (``labels``: uint16 volume, 0 = none, k =
insert k; ``names``; ``tissues`` and ``tissue_names``: the anatomy around them), for
``metrics.insert_contrast``.

CPU time on one core: CT (40, 256, 256) in HU, 1.48 mm pixels, 2.5 mm slices, about 4 s; MRI
(40, 256, 256), 0.94 mm pixels, 3 mm slices, about 2.5 s; microscopy (32, 256, 256) uint16
counts, 0.16 µm pixels, 0.4 µm steps, about 3 s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..display import CT_WINDOW
from ..io import Volume
from ..samples import SAMPLE_SHAPES, SAMPLES, SampleStack
from .layers import CLEAN_KEY, SAMPLE_KEY, layer_tuple

LICENCE = "BSD-3-Clause (generated offline by napari_nsn2n.samples; no external data)"
SOURCE = "napari_nsn2n.samples (synthetic)"
INSERTS_KEY = "nsn2n_inserts"
_UNIT = {"ct": "mm", "mri": "mm", "microscopy": "µm"}

LayerData = list[tuple[Any, dict[str, Any], str]]


def sample_layer(key: str, stack: SampleStack) -> LayerData:
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
    metadata: dict[str, Any] = {
        "description": stack.description,
        "source": SOURCE,
        "licence": LICENCE,
        SAMPLE_KEY: info,
        CLEAN_KEY: np.asarray(stack.clean),
    }
    if stack.inserts is not None:
        metadata[INSERTS_KEY] = {
            "labels": stack.inserts,
            "names": list(stack.insert_names),
            "tissues": stack.tissues,
            "tissue_names": list(stack.tissue_names),
        }
    data, kwargs, kind = layer_tuple(volume, name=stack.name, metadata=metadata)
    if stack.units == "HU":
        kwargs["contrast_limits"] = CT_WINDOW  # abdominal soft-tissue window: W 400, L 40
    kwargs["colormap"] = "gray"
    return [(data, kwargs, kind)]


def sample_ct() -> LayerData:
    """Low-dose abdominal CT in HU (liver, kidneys, spine, bowel; small lesions and vessels)."""
    return sample_layer("ct", SAMPLES["ct"](SAMPLE_SHAPES["ct"]))


def sample_mri() -> LayerData:
    """T1-weighted brain MRI with 4 % Rician noise (folded cortex, ventricles, small lesions)."""
    return sample_layer("mri", SAMPLES["mri"](SAMPLE_SHAPES["mri"]))


def sample_microscopy() -> LayerData:
    """Confocal-like fluorescence of a cell cluster, uint16 counts (membranes, nuclei, puncta)."""
    return sample_layer("microscopy", SAMPLES["microscopy"](SAMPLE_SHAPES["microscopy"]))
