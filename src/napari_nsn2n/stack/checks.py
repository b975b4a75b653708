"""Checking that an array can be denoised as a stack of slices, and choosing its slice axis."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidStackError
from .normalize import intensity_range

AXIS_LETTERS = "TZCYX"
MIN_SIDE = 8
FLOAT32_MAX = float(np.finfo(np.float32).max)
MIN_LEVELS = 1024  # float32 steps the stack's range must span (the network computes in float32)


def resolve_axis(shape: tuple[int, ...], axis: int | str | None, axes: str | None = None) -> int:
    """The index of the slice axis.

    For 3D data any axis may be the slice axis (the other two form the image plane); for 4D data
    (e.g. TZYX) it is one of the two leading axes. ``axis`` is an index (negative allowed), a letter ("z", "t") looked up in ``axes`` (e.g. "TYX"),
    or None: axis 0 for a 3D stack; a 4D stack must name it.
    """
    ndim = len(shape)
    unnamed = "its axes have no names, so give an index (--axis 0 or 1) or name them (--axes TZYX)"
    if axis is None:
        if ndim == 4:
            how = " (e.g. --axis z or --axis t)" if axes else f"; {unnamed}"
            raise InvalidStackError(f"4D data {shape} needs a slice-axis choice{how}")
        return 0
    if isinstance(axis, str) and not axis.lstrip("-").isdigit():
        letter = axis.upper()
        if letter not in AXIS_LETTERS:
            raise InvalidStackError(f"unknown axis {axis!r}; use an index or one of t, z")
        if axes and letter in axes.upper():
            return axes.upper().index(letter)
        if ndim == 3 and letter in "TZ":
            return 0
        if not axes:
            raise InvalidStackError(f"axis {axis!r} of 4D data {shape}: {unnamed}")
        raise InvalidStackError(f"axis {axis!r} not found in the data's axes {axes}")
    index = int(axis)
    leading = ndim if ndim == 3 else ndim - 2  # 3D: any axis; 4D: the image plane is the last two
    if not -ndim <= index < ndim or index % ndim >= leading:
        raise InvalidStackError(
            f"axis {axis} is not a slice axis of {ndim}D data (for 4D the last two axes are the "
            "image plane)"
        )
    return index % ndim


def check_stack(data: np.ndarray, axis: int | str | None = None, axes: str | None = None) -> int:
    """Raise :class:`InvalidStackError` with a one-line reason if ``data`` cannot be denoised.

    Returns the resolved slice axis. Values must survive the float32 the network computes in:
    within its range, and with at least ``MIN_LEVELS`` float32 steps between min and max.
    """
    shape = tuple(np.shape(data))
    dtype = np.dtype(getattr(data, "dtype", np.float64))
    if len(shape) < 3:
        raise InvalidStackError(f"{len(shape)}D image {shape}: NS-N2N needs a stack of 2D slices")
    if _looks_rgb(shape, axis, axes):
        last = len(shape) - 1
        raise InvalidStackError(
            f"RGB(A) data {shape} (the last axis has {shape[-1]} entries): convert to a single "
            f"channel first, or choose the slice axis if this is a stack (e.g. --axis {last})"
        )
    if len(shape) > 4:
        raise InvalidStackError(f"{len(shape)}D data {shape}: at most 4D (e.g. TZYX) is supported")
    if dtype.kind not in "biuf":
        raise InvalidStackError(f"unsupported data type {dtype}")
    slice_axis = resolve_axis(shape, axis, axes)
    if shape[slice_axis] < 2:
        raise InvalidStackError(
            f"only {shape[slice_axis]} slice along axis {slice_axis}: NS-N2N needs at least 2"
        )
    plane = tuple(n for a, n in enumerate(shape) if a != slice_axis)[-2:]
    if min(plane) < MIN_SIDE:
        raise InvalidStackError(f"slices of {plane} are too small (at least {MIN_SIDE} px)")
    if dtype.kind == "f":
        finite = _all_finite(data)
        if not finite:
            raise InvalidStackError("the stack contains NaN or Inf values; replace them first")
    lo, hi = intensity_range(data)
    if not hi > lo:
        raise InvalidStackError(f"the stack is constant (all values {lo}); nothing to denoise")
    largest = max(abs(lo), abs(hi))
    if largest > FLOAT32_MAX:
        raise InvalidStackError(
            f"values up to {largest:.3g} do not fit in float32 (at most {FLOAT32_MAX:.3g}); "
            "rescale the stack first"
        )
    if float(np.spacing(np.float32(largest))) * MIN_LEVELS > hi - lo:
        raise InvalidStackError(
            f"values around {largest:.6g} vary by only {hi - lo:.3g}: float32 keeps too few "
            "levels of that; subtract the offset (or rescale) first"
        )
    return slice_axis


def _looks_rgb(shape: tuple[int, ...], axis: int | str | None, axes: str | None) -> bool:
    """A guess for data without axis names: a last axis of 3 or 4 entries after larger ones is
    colour. Axis names decide instead (a last "C"), and a slice axis the user chose overrides
    the guess (the other checks then say what is wrong, e.g. slices too small)."""
    if axes:
        return axes.upper()[-1] == "C" and len(shape) in (3, 4)
    if axis is not None or len(shape) not in (3, 4) or shape[-1] not in (3, 4):
        return False
    return min(shape[-3:-1]) > 4


def _all_finite(data: np.ndarray, chunk: int = 16) -> bool:
    for start in range(0, data.shape[0], chunk):
        if not np.isfinite(np.asarray(data[start : start + chunk])).all():
            return False
    return True
