"""Trained models as files: the napari-nsn2n ``.pt`` bundle (weights, settings, normalisation),
and bioimage.io model packages (``export_bioimageio`` writes one, ``load_model`` reads ours)."""

from .bmz import (
    INSTALL_HINT,
    PackageExportError,
    PackageInfo,
    bioimageio_available,
    export_bioimageio,
    stack_sample,
)
from .bundle import ModelBundle, check_model_output, load_model, save_model
from .sample import TrainingSample

__all__ = [
    "INSTALL_HINT",
    "ModelBundle",
    "PackageExportError",
    "PackageInfo",
    "TrainingSample",
    "bioimageio_available",
    "check_model_output",
    "export_bioimageio",
    "load_model",
    "save_model",
    "stack_sample",
]
