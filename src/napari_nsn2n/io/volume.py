"""The Volume dataclass and the helpers every format shares (axes, suffixes, read errors)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import FileFormatError

_DOUBLE_SUFFIXES = (".nii.gz", ".ome.zarr")
_DEFAULT_AXES = {1: "X", 2: "YX", 3: "ZYX", 4: "TZYX", 5: "TZCYX"}
# Temporaries of io.atomic: ".NAME.XXXXXXXX.partial", the dots of NAME written "~" so that no
# glob for outputs ("*.nii.gz", "*.nii*", "*.tif*") matches them, hidden files counted or not.
PARTIAL_SUFFIX = ".partial"
_PARTIAL_NAME = re.compile(r"^\.(?P<name>[^.]+)\.[A-Za-z0-9_]{8}\.partial$")


def partial_prefix(target: str | os.PathLike) -> str:
    """The start of a temporary's name for ``target`` (``tempfile`` adds the rest)."""
    return "." + Path(target).name.replace(".", "~") + "."


@dataclass
class Volume:
    """An image read from (or to be written to) a file.

    ``data`` is slice-axis first for 3D ("ZYX"); ``spacing`` has one entry per axis of ``data``.
    ``affine`` (NIfTI, DICOM) maps the FILE's voxel indices (i, j, k) = (x, y, z), i.e. the
    reverse of ``data``'s axes, to world millimetres: RAS+ for NIfTI, LPS for DICOM.
    ``axes_known`` is False where the file names no axes (.npy, plain TIFF): ``axes`` is then
    the same default for every format ("ZYX", "TZYX") and a letter such as "z" means nothing
    for 4D data. ``notes`` says what a reader chose or skipped (another series, a gap) for the
    user to see.
    """

    data: np.ndarray
    axes: str
    spacing: tuple[float, ...] | None = None
    affine: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)
    source_format: str = ""
    path: Path | None = None
    notes: list[str] = field(default_factory=list)
    axes_known: bool = True

    def __post_init__(self) -> None:
        if len(self.axes) != self.data.ndim:
            raise ValueError(f"axes {self.axes!r} do not match data with {self.data.ndim} dims")
        if self.spacing is not None:
            if len(self.spacing) != self.data.ndim:
                raise ValueError(f"spacing {self.spacing} does not match {self.data.ndim} dims")
            self.spacing = tuple(float(s) for s in self.spacing)

    @property
    def named_axes(self) -> str | None:
        """``axes`` where the file names them, else None (what the engine takes as ``axes``:
        without names a letter such as ``--axis z`` is refused and the RGB guess applies)."""
        return self.axes if self.axes_known else None

    def with_data(self, data: np.ndarray) -> Volume:
        """The same volume (axes, spacing, affine, metadata) holding ``data`` (same shape)."""
        if np.ndim(data) != self.data.ndim:
            raise ValueError(f"new data has {np.ndim(data)} dims, expected {self.data.ndim}")
        return replace(self, data=data, metadata=dict(self.metadata), notes=list(self.notes))


def default_axes(ndim: int) -> str:
    """Our axis letters for an array without metadata ("ZYX" for 3D, "TZYX" for 4D)."""
    if ndim not in _DEFAULT_AXES:
        raise FileFormatError(f"{ndim}D arrays are not supported (1 to 5 dimensions)")
    return _DEFAULT_AXES[ndim]


def suffix_of(path: str | os.PathLike) -> str:
    """The lower-case suffix, with ".nii.gz" and ".ome.zarr" as one suffix."""
    name = Path(path).name.lower()
    double = next((s for s in _DOUBLE_SUFFIXES if name.endswith(s)), None)
    return double or Path(name).suffix


def read_error(path: str | os.PathLike, exc: BaseException | str) -> FileFormatError:
    """A one-line FileFormatError naming the file."""
    reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    reason = " ".join(str(reason).split())[:300]
    return FileFormatError(f"cannot read {path}: {reason}")


def like_for(data: np.ndarray, like: Volume | None) -> Volume | None:
    """``like`` if its dimensionality matches ``data``, else None (its metadata would not fit)."""
    return like if like is not None and like.data.ndim == data.ndim else None


def target_name(path: str | os.PathLike) -> str:
    """The name a temporary of ``io.atomic`` will get (its own name for any other path): writers
    that choose a variant by suffix (.nii vs .nii.gz) look at this."""
    name = Path(path).name
    match = _PARTIAL_NAME.match(name)
    return match["name"].replace("~", ".") if match else name


def is_partial(path: str | os.PathLike) -> bool:
    """True for a temporary of ``io.atomic`` (left only by a killed process; safe to delete)."""
    return _PARTIAL_NAME.match(Path(path).name) is not None
