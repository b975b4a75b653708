"""napari-nsn2n: Neighboring Slice Noise2Noise (Zhou et al.) denoising of a single 3D stack.

The engine imports no Qt and no napari. Heavy modules (torch) load on first use of the API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "TrainConfig": "config",
    "LowpassSettings": "masks",
    "RunControl": "control",
    "denoise": "api",
    "run": "api",
    "apply_model": "api",
    "compute_differences": "api",
    "mask_volume": "api",
    "PreparedStack": "api",
    "PairDifferences": "api",
    "suggest_threshold": "threshold",
    "ModelBundle": "model_io",
    "save_model": "model_io",
    "load_model": "model_io",
    "read_volume": "io",
    "write_volume": "io",
    "Volume": "io",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:
    from .api import (
        PairDifferences,
        PreparedStack,
        apply_model,
        compute_differences,
        denoise,
        mask_volume,
        run,
    )
    from .config import TrainConfig
    from .control import RunControl
    from .io import Volume, read_volume, write_volume
    from .masks import LowpassSettings
    from .model_io import ModelBundle, load_model, save_model
    from .threshold import suggest_threshold


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
