"""Trained models as files: the napari-nsn2n ``.pt`` bundle (weights, settings, normalisation)."""

from .bundle import ModelBundle, check_model_output, load_model, save_model

__all__ = ["ModelBundle", "check_model_output", "load_model", "save_model"]
