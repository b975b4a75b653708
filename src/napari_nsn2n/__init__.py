"""napari-nsn2n: Neighboring Slice Noise2Noise (Zhou et al.) denoising of a single 3D stack.

The engine imports no Qt and no napari. Names load on first use (torch only when a name that
needs it is used).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

_LAZY = {
    "TrainConfig": "config",
    "RunControl": "control",
    "LowpassSettings": "method.lowpass",
    "PairDifferences": "method.masks",
    "suggest_threshold": "method.threshold",
    "PreparedStack": "stack",
    "RunRequest": "pipeline",
    "ApplyRequest": "pipeline",
    "run": "pipeline",
    "denoise": "pipeline",
    "apply": "pipeline",
    "apply_model": "pipeline",
    "compute_differences": "pipeline",
    "mask_volume": "pipeline",
    "ModelBundle": "models",
    "save_model": "models",
    "load_model": "models",
    "export_bioimageio": "models",
    "PackageInfo": "models",
    "read_volume": "io",
    "write_volume": "io",
    "Volume": "io",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:
    from .config import TrainConfig
    from .control import RunControl
    from .io import Volume, read_volume, write_volume
    from .method.lowpass import LowpassSettings
    from .method.masks import PairDifferences
    from .method.threshold import suggest_threshold
    from .models import ModelBundle, PackageInfo, export_bioimageio, load_model, save_model
    from .pipeline import (
        ApplyRequest,
        RunRequest,
        apply,
        apply_model,
        compute_differences,
        denoise,
        mask_volume,
        run,
    )
    from .stack import PreparedStack


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
