"""Reading and writing volumes: TIFF (ImageJ / OME), NIfTI, .npy, DICOM series folders, OME-Zarr.

Formats are looked up in ``registry.FORMATS``. No Qt or napari here; each format's library is
imported when a file of it is read or written.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, NSN2NError, OutputError
from .atomic import atomic_output, check_output_path
from .dicom import is_dicom_file
from .registry import DICOM, FORMATS, Format, format_for, read_suffixes, write_suffixes
from .volume import Volume, suffix_of

__all__ = [
    "FORMATS",
    "Format",
    "Volume",
    "check_output_path",
    "format_for",
    "is_supported_path",
    "read_suffixes",
    "read_volume",
    "write_suffixes",
    "write_volume",
]


def is_supported_path(path: str | os.PathLike) -> bool:
    """True for a readable suffix or a folder holding DICOM files."""
    p = Path(path)
    fmt = format_for(p)
    if fmt is not None and fmt.folder:
        return p.is_dir()
    if p.is_dir():
        try:
            return any(f.is_file() and is_dicom_file(f) for f in p.iterdir())
        except OSError:
            return False
    return suffix_of(p) in read_suffixes()


def read_volume(path: str | os.PathLike, mmap: bool = False) -> Volume:
    """Read a TIFF, NIfTI, .npy file, a DICOM series (a folder, or one .dcm file of it) or an
    OME-Zarr folder (level 0, lazily).

    ``mmap`` memory-maps uncompressed TIFF, .nii and .npy data. Raises FileFormatError (one line,
    naming the file) for missing, corrupt or unsupported files.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise FileFormatError(f"cannot read {p}: no such file or folder")
    fmt = format_for(p)
    if p.is_dir() and (fmt is None or not fmt.folder):
        return DICOM.read(p)
    if fmt is not None and fmt.read is not None:
        return fmt.read(p, mmap=mmap)
    if is_dicom_file(p):
        return DICOM.read(p)
    suffix = suffix_of(p)
    raise FileFormatError(
        f"cannot read {p}: unsupported format {suffix or '(no suffix)'!r} "
        f"(use {', '.join(read_suffixes())} or a DICOM folder)"
    )


def write_volume(
    path: str | os.PathLike,
    data: np.ndarray | Volume,
    like: Volume | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``data`` in the format of ``path``'s suffix, atomically (temp file + os.replace).

    Spacing, affine, header and unit come from ``like`` (default: ``data`` if it is a Volume).
    Raises OutputError (exists without ``overwrite``, folder missing or read-only, write failed)
    or FileFormatError (unsupported suffix) before anything is written.
    """
    p = check_output_path(path, overwrite)
    if isinstance(data, Volume):
        like = data if like is None else like
        data = data.data
    writer = format_for(p).write
    try:
        with atomic_output(p) as tmp:
            writer(tmp, data, like)
    except NSN2NError:
        raise
    except Exception as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        raise OutputError(f"cannot write {p}: {reason}") from None
    return p
