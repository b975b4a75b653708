"""Checking a stack, choosing its slice axis, and normalising intensities to [0, 1] and back."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InvalidStackError

AXIS_LETTERS = "TZCYX"
MIN_SIDE = 8


def resolve_axis(shape: tuple[int, ...], axis: int | str | None, axes: str | None = None) -> int:
    """The index of the slice axis.

    For 3D data any axis may be the slice axis (the other two form the image plane); for 4D data
    (e.g. TZYX) it is one of the two leading axes. ``axis`` is an index (negative allowed), a letter ("z", "t") looked up in ``axes`` (e.g. "TYX"),
    or None: axis 0 for a 3D stack; a 4D stack must name it.
    """
    ndim = len(shape)
    if axis is None:
        if ndim == 4:
            raise InvalidStackError(
                f"4D data {shape} needs a slice-axis choice (e.g. --axis z or --axis t)"
            )
        return 0
    if isinstance(axis, str) and not axis.lstrip("-").isdigit():
        letter = axis.upper()
        if letter not in AXIS_LETTERS:
            raise InvalidStackError(f"unknown axis {axis!r}; use an index or one of t, z")
        if axes and letter in axes.upper():
            return axes.upper().index(letter)
        if ndim == 3 and letter in "TZ":
            return 0
        raise InvalidStackError(f"axis {axis!r} not found in the data's axes {axes or '?'}")
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

    Returns the resolved slice axis.
    """
    shape = tuple(np.shape(data))
    dtype = np.dtype(getattr(data, "dtype", np.float64))
    if len(shape) < 3:
        raise InvalidStackError(f"{len(shape)}D image {shape}: NS-N2N needs a stack of 2D slices")
    if len(shape) in (3, 4) and shape[-1] in (3, 4) and min(shape[-3:-1]) > 4:
        raise InvalidStackError(f"RGB(A) data {shape}: convert to a single channel first")
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
    return slice_axis


def _all_finite(data: np.ndarray, chunk: int = 16) -> bool:
    for start in range(0, data.shape[0], chunk):
        if not np.isfinite(np.asarray(data[start : start + chunk])).all():
            return False
    return True


def intensity_range(data: np.ndarray, chunk: int = 16) -> tuple[float, float]:
    """Min and max over the whole stack, read in chunks (works on memmaps)."""
    lo, hi = np.inf, -np.inf
    for start in range(0, data.shape[0], chunk):
        block = np.asarray(data[start : start + chunk])
        lo, hi = min(lo, float(block.min())), max(hi, float(block.max()))
    return lo, hi


@dataclass(frozen=True)
class Normalizer:
    """Min-max scaling to [0, 1] (the paper's normalisation); ``inverse`` returns input units.

    The threshold ``th`` of Eq. 3 lives on this [0, 1] scale, so 0.01 means 1 % of the stack's range
    (for CT in HU over [-1024, 3071], about 41 HU).
    """

    low: float
    high: float
    dtype: str

    @classmethod
    def fit(cls, data: np.ndarray) -> Normalizer:
        lo, hi = intensity_range(data)
        return cls(low=lo, high=hi, dtype=str(np.dtype(data.dtype)))

    @property
    def scale(self) -> float:
        return self.high - self.low

    def forward(self, data: np.ndarray) -> np.ndarray:
        out = np.asarray(data, dtype=np.float32) - np.float32(self.low)
        out *= np.float32(1.0 / self.scale)
        return out

    def inverse(self, data: np.ndarray, cast: bool = False) -> np.ndarray:
        """Back to input units as float32; with ``cast`` round and clip to the input dtype."""
        out = np.asarray(data, dtype=np.float64) * self.scale + self.low
        return self.cast(out) if cast else out.astype(np.float32)

    def cast(self, units: np.ndarray) -> np.ndarray:
        """Values in input units to the input dtype (rounded and clipped for integers)."""
        out = np.asarray(units, dtype=np.float64)
        dtype = np.dtype(self.dtype)
        if dtype.kind in "iub":
            info = np.iinfo(dtype) if dtype.kind != "b" else None
            out = np.rint(out)
            if info is not None:
                out = np.clip(out, info.min, info.max)
        return out.astype(dtype)

    def to_dict(self) -> dict[str, float | str]:
        return {"low": self.low, "high": self.high, "dtype": self.dtype}

    @classmethod
    def from_dict(cls, values: dict) -> Normalizer:
        return cls(low=float(values["low"]), high=float(values["high"]), dtype=str(values["dtype"]))


@dataclass(frozen=True)
class SliceLayout:
    """How an input array maps to a (M, H, W) stack of slices and back.

    3D: the slice axis moves to the front. 4D (e.g. TZYX with slice axis Z): the other leading axis
    holds independent volumes, laid one after another; pairs never cross a volume boundary.
    """

    shape: tuple[int, ...]
    slice_axis: int

    @property
    def volume_axis(self) -> int | None:
        if len(self.shape) == 3:
            return None
        return next(a for a in range(len(self.shape) - 2) if a != self.slice_axis)

    @property
    def n_volumes(self) -> int:
        return 1 if self.volume_axis is None else self.shape[self.volume_axis]

    @property
    def n_slices(self) -> int:
        return self.shape[self.slice_axis]

    @property
    def order(self) -> tuple[int, ...]:
        """Axis order that puts (volume, slice, y, x) or (slice, y, x) in front."""
        lead = (
            [self.slice_axis] if self.volume_axis is None else [self.volume_axis, self.slice_axis]
        )
        rest = [a for a in range(len(self.shape)) if a not in lead]
        return (*lead, *rest)

    def to_slices(self, data: np.ndarray) -> np.ndarray:
        """A (M, H, W) view or copy of ``data`` with the slices along axis 0."""
        moved = np.transpose(data, self.order)
        return moved.reshape((-1, *moved.shape[-2:]))

    def from_slices(self, slices: np.ndarray) -> np.ndarray:
        moved_shape = tuple(self.shape[a] for a in self.order)
        inverse = np.argsort(self.order)
        return np.transpose(slices.reshape(moved_shape), inverse)

    def index_of(self, m: int) -> tuple:
        """Index into the input array of slice ``m`` of the (M, H, W) stack (its plane stays in
        the input's axis order)."""
        volume, index = divmod(m, self.n_slices)
        key: list = [slice(None)] * len(self.shape)
        key[self.slice_axis] = index
        if self.volume_axis is not None:
            key[self.volume_axis] = volume
        return tuple(key)

    def pair_starts(self) -> np.ndarray:
        """Indices i of the (M, H, W) stack such that (i, i+1) is a pair of neighbouring slices."""
        n = self.n_slices
        return np.array(
            [v * n + i for v in range(self.n_volumes) for i in range(n - 1)], dtype=np.int64
        )


class NormalizedSlices:
    """The (M, H, W) float32 slices of an input array, normalised on access.

    Nothing is read until a slice is asked for, so a memmap, zarr or dask array larger than memory
    can be filtered, trained on and denoised slice by slice.
    """

    dtype = np.dtype(np.float32)
    ndim = 3

    def __init__(self, data, layout: SliceLayout, normalizer: Normalizer) -> None:
        self.data, self.layout, self.normalizer = data, layout, normalizer
        plane = tuple(layout.shape[a] for a in layout.order[-2:])
        self.shape = (layout.n_volumes * layout.n_slices, *plane)

    def __len__(self) -> int:
        return self.shape[0]

    def _read(self, m: int) -> np.ndarray:
        return self.normalizer.forward(np.asarray(self.data[self.layout.index_of(m)]))

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self._read(int(key) % len(self))
        if isinstance(key, slice):
            indices = range(*key.indices(len(self)))
            out = np.empty((len(indices), *self.shape[1:]), dtype=np.float32)
            for k, m in enumerate(indices):
                out[k] = self._read(m)
            return out
        raise TypeError(
            f"NormalizedSlices indices must be ints or slices, not {type(key).__name__}"
        )

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)


def is_lazy(data) -> bool:
    """True for arrays that should be read slice by slice (memmaps, zarr, dask...)."""
    return isinstance(data, np.memmap) or not isinstance(data, np.ndarray)
