"""Reading and writing volumes: TIFF (ImageJ / OME), NIfTI, .npy and DICOM series folders.

No Qt or napari here; pydicom is imported only when a DICOM series is read.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, NSN2NError, OutputError
from .dicom import is_dicom_file, read_dicom
from .nifti import read_nifti, write_nifti
from .numpy_io import read_npy, write_npy
from .tiff import read_tiff, write_tiff
from .volume import Volume, atomic_output, check_output_path, suffix_of

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Volume",
    "check_output_path",
    "is_supported_path",
    "read_volume",
    "write_volume",
]

SUPPORTED_SUFFIXES = (".tif", ".tiff", ".nii", ".nii.gz", ".npy")
_READERS = {
    ".tif": read_tiff,
    ".tiff": read_tiff,
    ".nii": read_nifti,
    ".nii.gz": read_nifti,
    ".npy": read_npy,
}
_WRITERS = {
    ".tif": write_tiff,
    ".tiff": write_tiff,
    ".nii": write_nifti,
    ".nii.gz": write_nifti,
    ".npy": write_npy,
}


def is_supported_path(path: str | os.PathLike) -> bool:
    """True for a supported suffix, a .dcm file, or a folder holding DICOM files."""
    p = Path(path)
    if p.is_dir():
        try:
            return any(f.is_file() and is_dicom_file(f) for f in p.iterdir())
        except OSError:
            return False
    return suffix_of(p) in (*SUPPORTED_SUFFIXES, ".dcm")


def read_volume(path: str | os.PathLike, mmap: bool = False) -> Volume:
    """Read a TIFF, NIfTI, .npy file or a DICOM series (a folder, or one .dcm file of it).

    ``mmap`` memory-maps uncompressed TIFF, .nii and .npy data. Raises FileFormatError (one line,
    naming the file) for missing, corrupt or unsupported files.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise FileFormatError(f"cannot read {p}: no such file or folder")
    if p.is_dir():
        return read_dicom(p)
    suffix = suffix_of(p)
    reader = _READERS.get(suffix)
    if reader is not None:
        return reader(p, mmap=mmap)
    if is_dicom_file(p):
        return read_dicom(p)
    raise FileFormatError(
        f"cannot read {p}: unsupported format {suffix or '(no suffix)'!r} "
        f"(use {', '.join(SUPPORTED_SUFFIXES)}, .dcm or a DICOM folder)"
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
    writer = _WRITERS[suffix_of(p)]
    try:
        with atomic_output(p) as tmp:
            writer(tmp, data, like)
    except NSN2NError:
        raise
    except Exception as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        raise OutputError(f"cannot write {p}: {reason}") from None
    return p
