"""Reading and writing volumes: TIFF (ImageJ / OME), NIfTI, .npy, DICOM series folders, OME-Zarr.

Formats are looked up in ``registry.FORMATS``. No Qt or napari here; each format's library is
imported when a file of it is read or written.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, NSN2NError, OutputError
from .atomic import atomic_output, check_output_path, check_outputs, describe_os_error
from .dicom import is_dicom_file
from .registry import DICOM, FORMATS, Format, format_for, read_suffixes, write_suffixes
from .volume import Volume, suffix_of

__all__ = [
    "FORMATS",
    "Format",
    "Volume",
    "check_output_path",
    "check_outputs",
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


def read_volume(
    path: str | os.PathLike,
    mmap: bool = False,
    *,
    series: int | str | None = None,
    allow_gaps: bool = False,
) -> Volume:
    """Read a TIFF, NIfTI, .npy file, a DICOM series (a folder, or one .dcm file of it) or an
    OME-Zarr folder (level 0, lazily).

    ``mmap`` memory-maps uncompressed TIFF, .nii and .npy data. ``series`` picks one of several
    series (a TIFF series index; a DICOM SeriesInstanceUID or SeriesNumber); ``allow_gaps``
    reads a DICOM series with unreadable files or uneven steps (reported in ``Volume.notes``)
    instead of refusing it. Raises FileFormatError (one line, naming the file) for missing,
    truncated, corrupt or unsupported files, and for an option the format does not take.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise FileFormatError(f"cannot read {p}: no such file or folder")
    asked: dict = {} if series is None else {"series": series}
    if allow_gaps:
        asked["allow_gaps"] = True
    fmt = format_for(p)  # a folder with a format's suffix (OME-Zarr) is that format
    if (fmt is None and is_dicom_file(p)) or (p.is_dir() and (fmt is None or not fmt.folder)):
        fmt = DICOM
    if fmt is not None and fmt.read is not None:
        refused = [k for k in asked if k not in fmt.reader_options]
        if refused:
            takers = sorted({f.name for f in FORMATS if refused[0] in f.reader_options})
            raise FileFormatError(
                f"cannot read {p}: the option {refused[0]} applies to {', '.join(takers)} "
                f"files, not {fmt.name}"
            )
        return fmt.read(p, mmap=mmap, **asked)
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
    hint: str = "overwrite=True",
) -> Path:
    """Write ``data`` in the format of ``path``'s suffix, atomically (``io.atomic``): readers of
    ``path`` see the file as it was or the whole new one, and without ``overwrite`` an existing file
    is never replaced, even one another process creates meanwhile.

    Spacing, affine, header and unit come from ``like`` (default: ``data`` if it is a Volume).
    Raises OutputError (exists without ``overwrite``, folder missing or read-only, write failed,
    "no space left on device") or FileFormatError (unsupported suffix); ``hint`` is how the
    user allows replacing (the CLI says "--overwrite").
    """
    p = check_output_path(path, overwrite, hint)
    if isinstance(data, Volume):
        like = data if like is None else like
        data = data.data
    writer = format_for(p).write
    try:
        with atomic_output(p, overwrite, folder=format_for(p).folder) as tmp:
            writer(tmp, data, like)
    except NSN2NError:
        raise
    except Exception as exc:
        raise OutputError(f"cannot write {p}: {describe_os_error(exc)}") from None
    return p
