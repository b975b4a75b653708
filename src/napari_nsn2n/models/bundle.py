"""Saving and loading trained models: weights + training config + normalisation, no pickled code.

A model file is a ``torch.save`` of a dict of plain values and tensors, read back with
``torch.load(weights_only=True)``, which refuses arbitrary Python objects.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..config import TrainConfig
from ..errors import ModelFormatError, OutputError
from ..method.unet import UNet, build_unet
from ..stack import Normalizer
from .package import is_package, read_package_payload
from .sample import TrainingSample

MODEL_FORMAT = "napari-nsn2n-model"
MODEL_VERSION = 1


@dataclass
class ModelBundle:
    """A trained network on the CPU with what is needed to apply it to another stack."""

    state: dict[str, torch.Tensor] = field(repr=False)
    config: TrainConfig
    normalizer: Normalizer
    threshold: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    sample: TrainingSample | None = field(default=None, repr=False)  # for a bioimage.io package

    def build(self, device: torch.device | str = "cpu") -> UNet:
        model = build_unet(self.config)
        model.load_state_dict(self.state)
        return model.to(device).eval()

    def to_payload(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "config": self.config.to_dict(),
            "normalizer": self.normalizer.to_dict(),
            "threshold": self.threshold,
            "meta": dict(self.meta),
            "state": self.state,
            "sample": None if self.sample is None else self.sample.to_payload(),
        }


def check_model_output(path: str | Path, overwrite: bool = False) -> Path:
    """Raise :class:`OutputError` unless a model can be written to ``path``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    if not path.parent.is_dir():
        raise OutputError(f"folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise OutputError(f"folder {path.parent} is not writable")
    return path


def save_model(bundle: ModelBundle, path: str | Path, overwrite: bool = False) -> Path:
    """Write ``bundle`` to ``path`` atomically (temp file, then rename)."""
    path = check_model_output(path, overwrite)
    try:
        handle, tmp = tempfile.mkstemp(prefix=".nsn2n-", suffix=".pt", dir=path.parent)
        os.close(handle)
        torch.save(bundle.to_payload(), tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write model {path}: {exc.strerror or exc}") from exc
    return path


def load_model(path: str | Path) -> ModelBundle:
    """Read a model written by :func:`save_model`, or a bioimage.io package (``.zip``) exported by
    :func:`~napari_nsn2n.models.export_bioimageio`; :class:`ModelFormatError` for anything else."""
    path = Path(path)
    if not path.is_file():
        raise ModelFormatError(f"model file {path} not found")
    payload = read_package_payload(path) if is_package(path) else _read_model_file(path)
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ModelFormatError(f"{path} is not a napari-nsn2n model")
    if payload.get("version") != MODEL_VERSION:
        raise ModelFormatError(
            f"{path} is model format version {payload.get('version')}; this napari-nsn2n reads "
            f"version {MODEL_VERSION}"
        )
    try:
        bundle = ModelBundle(
            state=payload["state"],
            config=TrainConfig.from_dict(payload["config"]),
            normalizer=Normalizer.from_dict(payload["normalizer"]),
            threshold=payload.get("threshold"),
            meta=payload.get("meta", {}),
            sample=TrainingSample.from_payload(payload.get("sample")),
        )
        bundle.build("cpu")
    except Exception as exc:
        raise ModelFormatError(f"{path} holds an incomplete or mismatched model: {exc}") from exc
    return bundle


def _read_model_file(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelFormatError(
            f"{path} is not a napari-nsn2n model ({type(exc).__name__})"
        ) from exc
