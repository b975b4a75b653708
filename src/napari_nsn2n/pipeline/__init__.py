"""The pipelines every interface runs: ``run`` (train and denoise), ``apply`` (a trained model),
the LPF stage, each a generator of typed events (``napari_nsn2n.events``) with progress and
cancellation through a ``RunControl``; ``denoise`` / ``apply_model`` / ``compute_differences``
are their blocking forms."""

from .apply import apply, apply_model
from .lowpass import compute_differences, lowpass_events, mask_volume
from .request import ApplyRequest, RunRequest
from .residual import residual
from .run import denoise, run

__all__ = [
    "ApplyRequest",
    "RunRequest",
    "apply",
    "apply_model",
    "compute_differences",
    "denoise",
    "lowpass_events",
    "mask_volume",
    "residual",
    "run",
]
