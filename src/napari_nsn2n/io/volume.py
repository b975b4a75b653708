"""The Volume dataclass and the helpers every format shares (axes, errors, safe output paths)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, OutputError

WRITE_SUFFIXES = (".tif", ".tiff", ".nii", ".nii.gz", ".npy")
_DEFAULT_AXES = {1: "X", 2: "YX", 3: "ZYX", 4: "TZYX", 5: "TZCYX"}


@dataclass
class Volume:
    """An image read from (or to be written to) a file.

    ``data`` is slice-axis first for 3D ("ZYX"); ``spacing`` has one entry per axis of ``data``.
    ``affine`` (NIfTI, DICOM) maps the FILE's voxel indices (i, j, k) = (x, y, z), i.e. the
    reverse of ``data``'s axes, to world millimetres: RAS+ for NIfTI, LPS for DICOM.
    """

    data: np.ndarray
    axes: str
    spacing: tuple[float, ...] | None = None
    affine: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)
    source_format: str = ""
    path: Path | None = None

    def __post_init__(self) -> None:
        if len(self.axes) != self.data.ndim:
            raise ValueError(f"axes {self.axes!r} do not match data with {self.data.ndim} dims")
        if self.spacing is not None:
            if len(self.spacing) != self.data.ndim:
                raise ValueError(f"spacing {self.spacing} does not match {self.data.ndim} dims")
            self.spacing = tuple(float(s) for s in self.spacing)

    def with_data(self, data: np.ndarray) -> Volume:
        """The same volume (axes, spacing, affine, metadata) holding ``data`` (same shape)."""
        if np.ndim(data) != self.data.ndim:
            raise ValueError(f"new data has {np.ndim(data)} dims, expected {self.data.ndim}")
        return replace(self, data=data, metadata=dict(self.metadata))


def default_axes(ndim: int) -> str:
    """Our axis letters for an array without metadata ("ZYX" for 3D, "TZYX" for 4D)."""
    if ndim not in _DEFAULT_AXES:
        raise FileFormatError(f"{ndim}D arrays are not supported (1 to 5 dimensions)")
    return _DEFAULT_AXES[ndim]


def suffix_of(path: str | os.PathLike) -> str:
    """The lower-case suffix, with ".nii.gz" as one suffix."""
    name = Path(path).name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix


def read_error(path: str | os.PathLike, exc: BaseException | str) -> FileFormatError:
    """A one-line FileFormatError naming the file."""
    reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    reason = " ".join(str(reason).split())[:300]
    return FileFormatError(f"cannot read {path}: {reason}")


def like_for(data: np.ndarray, like: Volume | None) -> Volume | None:
    """``like`` if its dimensionality matches ``data``, else None (its metadata would not fit)."""
    return like if like is not None and like.data.ndim == data.ndim else None


def check_output_path(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Check that ``path`` can be written; raise OutputError / FileFormatError before any work."""
    p = Path(path).expanduser()
    if suffix_of(p) not in WRITE_SUFFIXES:
        raise FileFormatError(
            f"cannot write {p}: unsupported suffix (use one of {', '.join(WRITE_SUFFIXES)})"
        )
    if p.is_dir():
        raise OutputError(f"cannot write {p}: it is a folder")
    if p.exists() and not overwrite:
        raise OutputError(f"{p} already exists (use overwrite to replace it)")
    parent = p.parent
    if not parent.exists():
        raise OutputError(f"cannot write {p}: folder {parent} does not exist")
    if not parent.is_dir():
        raise OutputError(f"cannot write {p}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {p}: folder {parent} is not writable")
    return p


def _file_mode() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temp path in ``path``'s folder (same suffix); on success move it onto ``path``."""
    suffix = suffix_of(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
