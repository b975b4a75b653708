"""NumPy ``.npy`` files (no metadata: the default axes for the number of dimensions, marked as
not named by the file: ``Volume.axes_known`` is False)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from .volume import Volume, default_axes, read_error


def read_npy(path: Path, mmap: bool = False) -> Volume:
    """Read a .npy array (a read-only np.memmap when ``mmap``); pickled objects are refused."""
    try:
        with open(path, "rb") as f:
            if f.read(6) != b"\x93NUMPY":
                raise read_error(path, "not a NumPy .npy file")
        data = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileFormatError:
        raise
    except Exception as exc:
        raise read_error(path, exc) from None
    if not isinstance(data, np.ndarray):
        raise read_error(path, "not a single array")
    try:
        axes = default_axes(data.ndim)
    except FileFormatError as exc:
        raise read_error(path, str(exc)) from None
    return Volume(data=data, axes=axes, source_format="npy", path=path, axes_known=False)


def write_npy(path: Path, data: np.ndarray, like: Volume | None = None) -> None:
    """Write ``data`` with np.save (dtype and values exactly)."""
    with open(path, "wb") as f:
        np.save(f, np.asarray(data), allow_pickle=False)
