"""Saving and loading trained models: weights + training config + normalisation, no pickled code.

A model file is a ``torch.save`` of a dict of plain values and tensors, read back with
``torch.load(weights_only=True)``, which refuses arbitrary Python objects. It is written like a
volume (``io.atomic``): whole or not at all, never over a file without ``overwrite``. Loading
checks everything before a model is used, each problem in one line: the settings, the
normalisation (a range that is not finite or empty), and that every weight has the shape the
settings call for.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..config import TrainConfig
from ..errors import ModelFormatError, NSN2NError, OutputError
from ..io.atomic import atomic_output, check_writable, describe_os_error
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


def check_model_output(
    path: str | Path, overwrite: bool = False, hint: str = "overwrite=True"
) -> Path:
    """Raise :class:`OutputError` unless a model can be written to ``path``."""
    return check_writable(Path(path).expanduser(), overwrite, hint)


def save_model(
    bundle: ModelBundle, path: str | Path, overwrite: bool = False, hint: str = "overwrite=True"
) -> Path:
    """Write ``bundle`` to ``path`` atomically; OutputError in one line when it cannot (a full
    disk is "no space left on device"; nothing partial stays behind)."""
    path = check_model_output(path, overwrite, hint)
    buffer = io.BytesIO()  # serialised first: write errors then come from the file, plainly
    torch.save(bundle.to_payload(), buffer)
    try:
        with atomic_output(path, overwrite) as tmp:
            tmp.write_bytes(buffer.getbuffer())
    except OutputError as exc:
        raise OutputError(f"cannot write model {path}: {_reason(exc, path)}") from None
    except OSError as exc:
        raise OutputError(f"cannot write model {path}: {describe_os_error(exc)}") from None
    return path


def _reason(exc: OutputError, path: Path) -> str:
    return str(exc).removeprefix(f"cannot write {path}: ")


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
        config = TrainConfig.from_dict(dict(payload["config"]))
        normalizer = Normalizer.from_dict(payload["normalizer"])
        sample = TrainingSample.from_payload(payload.get("sample"))
    except (KeyError, TypeError, ValueError, NSN2NError) as exc:
        reason = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ModelFormatError(f"{path} holds unusable settings: {reason}") from None
    if not (math.isfinite(normalizer.low) and math.isfinite(normalizer.high)) or not (
        normalizer.high > normalizer.low
    ):
        raise ModelFormatError(
            f"{path} holds a degenerate normalisation (low {normalizer.low}, high "
            f"{normalizer.high}): its training stack had no range; train the model again"
        )
    state = payload.get("state")
    _check_weights(path, state, config)
    meta = payload.get("meta", {})
    threshold = payload.get("threshold")
    return ModelBundle(
        state, config, normalizer, threshold, meta if isinstance(meta, dict) else {}, sample
    )


def _check_weights(path: Path, state: Any, config: TrainConfig) -> None:
    """Every tensor the settings' U-Net needs, of its shape and finite; one line otherwise."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFormatError(f"{path} holds no weights (its 'state' is not a dict of tensors)")
    expected = build_unet(config).state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            k = wrong[0]
            parts.append(
                f"{len(wrong)} of other shapes (e.g. {k}: {tuple(state[k].shape)} stored, "
                f"{tuple(expected[k].shape)} expected)"
            )
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise ModelFormatError(
            f"{path} holds weights that do not match its settings (depth {config.depth}, "
            f"{config.base_channels} channels): {', '.join(parts)}"
        )
    broken = next((k for k, v in state.items() if not torch.isfinite(v).all()), None)
    if broken is not None:
        raise ModelFormatError(f"{path} holds NaN or Inf weights ({broken}); it cannot be used")


def _read_model_file(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelFormatError(
            f"{path} is not a napari-nsn2n model ({type(exc).__name__})"
        ) from exc
