"""What a run or an application of a model needs, as one object instead of many keywords.

Both requests check their fields when they are made (the same rules as the CLI's options): a
threshold outside [0, 1], a list or a torch tensor as the stack, an ``out`` that cannot receive
the result, or a misspelt keyword raise a typed one-line error before any work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from ..config import TrainConfig, device_name
from ..errors import InvalidSettingError, InvalidStackError, TrainingFailed
from ..field_checks import check_fields, check_keys
from ..method.lowpass import LowpassSettings
from ..method.masks import PairDifferences

Threshold = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | Literal["auto"] | None
Rician = bool | Annotated[float, Field(gt=0, allow_inf_nan=False)] | Literal["auto"] | None
Axis = int | str | None
_SIMPLE = (
    *("threshold", "preview_every", "tta", "cast_output", "in_memory", "rician", "axis"),
    "keep_structure",
)
_SIMPLE_APPLY = (
    *("tta", "renormalize", "cast_output", "batch_size", "rician", "axis", "device"),
    "keep_structure",
)


@dataclass
class RunRequest:
    """One NS-N2N run: train on ``data`` and denoise it.

    ``threshold``: th of Eq. 3 on the [0, 1] scale, or "auto" (suggested for the run's planned
    steps). ``config``: the training settings (default ``TrainConfig.preset("auto")``: the paper's
    on a GPU, the fast preset on a CPU). ``axis`` / ``axes``: the slice axis (index or letter) and
    the data's axis letters. ``lowpass``: LPF settings; ``differences``: LPF differences computed
    before (the LPF stage is then skipped). ``preview_index`` / ``preview_every``: a denoised
    preview of that slice (an index or a callable returning one) every N steps. ``tta``: 8-fold
    test-time augmentation at inference. ``cast_output``: the result in the input's dtype.
    ``out``: an array (input shape) that receives the result slice by slice, e.g. a memmap.
    ``in_memory``: load the input whole (True), read it slice by slice (False) or decide from
    its size (None). ``rician``: remove the Rician bias from the result (magnitude MRI) with
    this sigma in input units, or estimated when True / "auto". ``infer``: False trains only
    (``Finished.denoised`` is None; e.g. when the stack is denoised on a cluster afterwards).
    ``keep_structure``: put back what the network removed where the neighbouring slices agree
    it is structure (``method.structure``); False gives the network's output as it is.
    """

    data: Any
    threshold: Threshold = "auto"
    config: TrainConfig | None = None
    axis: Axis = None
    axes: str | None = None
    lowpass: LowpassSettings | None = None
    differences: PairDifferences | None = None
    preview_index: int | Callable[[], int] | None = None
    preview_every: Annotated[int, Field(ge=0)] = 0
    tta: bool = False
    cast_output: bool = False
    out: np.ndarray | None = field(default=None, repr=False)
    in_memory: bool | None = None
    rician: Rician = False
    infer: bool = True  # False: train only (the model is the result)
    keep_structure: bool = True

    def __post_init__(self) -> None:
        self.threshold = _lower(self.threshold)
        self.rician = _lower(self.rician)
        check_fields(self, "run request", _SIMPLE)
        check_data(self.data)
        check_axes(self.axes)
        _check_type(self.config, TrainConfig, "config", "TrainConfig.from_dict(d) makes one")
        _check_type(self.lowpass, LowpassSettings, "lowpass")
        _check_type(self.differences, PairDifferences, "differences")
        index = self.preview_index
        if not (index is None or callable(index) or isinstance(index, int | np.integer)):
            raise InvalidSettingError(
                f"preview_index must be a slice number or a callable, got {type(index).__name__}"
            )
        check_out(self.out, self.data)

    def training_config(self) -> TrainConfig:
        return self.config or TrainConfig.preset("auto")


@dataclass
class ApplyRequest:
    """Denoise ``data`` with a trained model (``pipeline.apply``).

    By default the stack is scaled with the training stack's normalisation, so the same physical
    units (e.g. HU) meet the same network input; ``renormalize`` uses this stack's own min/max.
    ``batch_size``: slices per forward pass (default: by device). Other fields as in
    :class:`RunRequest`.
    """

    data: Any
    axis: Axis = None
    axes: str | None = None
    device: str = "auto"
    tta: bool = False
    renormalize: bool = False
    cast_output: bool = False
    batch_size: Annotated[int, Field(ge=1)] | None = None
    out: np.ndarray | None = field(default=None, repr=False)
    rician: Rician = False
    keep_structure: bool = True

    def __post_init__(self) -> None:
        self.rician = _lower(self.rician)
        check_fields(self, "apply request", _SIMPLE_APPLY)
        self.device = device_name(self.device, "apply request")
        check_data(self.data)
        check_axes(self.axes)
        check_out(self.out, self.data)


def as_request(kind: type, request: Any, options: dict[str, Any]) -> Any:
    """``request`` if it is a ``kind`` (with ``options`` replaced), else ``kind(request, **options)``;
    a keyword that is not a field of ``kind`` is refused with its name."""
    check_keys(kind, options, "keyword")
    if not isinstance(request, kind):
        return kind(request, **options)
    return replace(request, **options) if options else request


def check_data(data: Any) -> None:
    """Refuse what cannot be read as a stack: lists, torch tensors, objects without an array's
    shape / dtype / indexing (NumPy, memmap, zarr and dask arrays pass)."""
    kind = type(data)
    name = f"{kind.__module__.split('.')[0]}.{kind.__name__}"
    if isinstance(data, list | tuple):
        raise InvalidStackError(
            f"the stack must be an array, got a {kind.__name__}: convert it with np.asarray(...)"
        )
    if kind.__module__.startswith("torch"):
        raise InvalidStackError(
            f"the stack must be a NumPy (or zarr / dask) array, got a {name}: convert it with "
            "tensor.detach().cpu().numpy()"
        )
    if not all(hasattr(data, a) for a in ("shape", "dtype", "__getitem__")):
        hint = " (pass volume.data, axes=volume.axes)" if hasattr(data, "axes") else ""
        raise InvalidStackError(f"the stack must be an array, got {name}{hint}")
    try:
        np.dtype(data.dtype)
    except TypeError:
        raise InvalidStackError(f"the stack's dtype {data.dtype!r} is not a NumPy dtype") from None


def check_axes(axes: Any) -> None:
    """``axes`` is None or distinct axis letters of T, Z, C, Y, X (e.g. "TZYX")."""
    if axes is None:
        return
    if (
        not isinstance(axes, str)
        or not axes
        or set(axes.upper()) - set("TZCYX")
        or len(set(axes.upper())) != len(axes)
    ):
        raise InvalidSettingError(
            f"axes must be distinct letters of T, Z, C, Y, X (e.g. 'TZYX'), got {axes!r}"
        )


def check_out(out: Any, data: Any) -> None:
    """``out`` is None or a writable NumPy array (a memmap too) of the stack's shape."""
    if out is None:
        return
    if not isinstance(out, np.ndarray):
        kind = type(out)
        raise InvalidSettingError(
            f"out must be a writable NumPy array or memmap, got "
            f"{kind.__module__.split('.')[0]}.{kind.__name__}"
        )
    if not out.flags.writeable:
        raise InvalidSettingError("out is read-only; give a writable array or memmap")
    if tuple(out.shape) != tuple(np.shape(data)):
        raise InvalidSettingError(f"out has shape {out.shape}; the stack's is {np.shape(data)}")


def check_network_fits(plane: tuple[int, int], depth: int, what: str = "slices") -> None:
    """Refuse ``plane``-sized images for a U-Net of ``depth``: its reflect padding to a multiple
    of 2**depth needs sides above 2**(depth - 1)."""
    smallest = 2 ** (depth - 1) + 1
    if min(plane) < smallest:
        raise InvalidStackError(
            f"{what} of {plane[0]} x {plane[1]} px are too small for a U-Net of depth {depth} "
            f"(at least {smallest} px)"
        )


def check_finite(block: np.ndarray, what: str) -> None:
    """Raise ``TrainingFailed`` when a result block holds NaN or Inf (never write such a result)."""
    if not np.isfinite(block).all():
        raise TrainingFailed(f"{what} has NaN or Inf values; nothing was returned")


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _check_type(value: Any, kind: type, name: str, hint: str = "") -> None:
    if value is None or isinstance(value, kind):
        return
    extra = f"; {hint}" if hint else ""
    raise InvalidSettingError(
        f"{name} must be a {kind.__name__} or None, got {type(value).__name__}{extra}"
    )


assert set(_SIMPLE) <= {f.name for f in fields(RunRequest)}
assert set(_SIMPLE_APPLY) <= {f.name for f in fields(ApplyRequest)}
