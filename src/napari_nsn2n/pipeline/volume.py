"""One volume read from a file, trained on and denoised, or denoised with a model: the events of
``run`` or ``apply`` for the options every per-volume interface shares (``nsn2n denoise``, a
cohort's worker)."""

from __future__ import annotations

from collections.abc import Iterator

from ..config import TrainConfig
from ..events import Event
from ..io import Volume
from ..method.lowpass import LowpassSettings
from ..models.bundle import ModelBundle
from .apply import apply
from .request import ApplyRequest, Rician, RunRequest, Threshold
from .run import run


def volume_events(
    volume: Volume,
    model: ModelBundle | None,
    *,
    config: TrainConfig | None,
    threshold: Threshold,
    axis: int | str | None,
    device: str,
    tta: bool,
    cast_output: bool,
    rician: Rician,
    stabilize: str,
    keep_structure: bool = True,
) -> Iterator[Event]:
    """``apply(model, ...)`` when a model is given, else ``run`` with ``config`` and
    ``threshold``; the volume's axes only where its file names them (``Volume.named_axes``)."""
    if model is not None:
        request = ApplyRequest(
            volume.data,
            axis=axis,
            axes=volume.named_axes,
            device=device,
            tta=tta,
            cast_output=cast_output,
            rician=rician,
            keep_structure=keep_structure,
        )
        return apply(model, request)
    request = RunRequest(
        volume.data,
        threshold=threshold,
        config=config,
        axis=axis,
        axes=volume.named_axes,
        lowpass=LowpassSettings(stabilize=stabilize),
        tta=tta,
        cast_output=cast_output,
        rician=rician,
        keep_structure=keep_structure,
    )
    return run(request)
