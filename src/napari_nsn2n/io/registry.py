"""The file formats napari-nsn2n reads and writes, in one table.

The CLI (input and output names), ``read_volume`` / ``write_volume`` and the napari reader and
writer contributions all look formats up here, so a new format is one entry (and its module).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .volume import Volume, suffix_of

Reader = Callable[..., Volume]  # (path, mmap=False, **reader_options) -> Volume
Writer = Callable[[Path, np.ndarray, "Volume | None"], None]


@dataclass(frozen=True)
class Format:
    """One format: its name, suffixes (the first is the one outputs get), reader and writer, and
    the reader options (keywords of ``read_volume``) it takes."""

    name: str
    suffixes: tuple[str, ...]
    description: str
    read: Reader | None = None
    write: Writer | None = None
    in_napari_writer: bool = False  # offered by the napari writer contribution
    reader_options: tuple[str, ...] = ()
    folder: bool = False  # a "file" of this format is a folder (OME-Zarr)


def _tiff_read(path: Path, mmap: bool = False, **options) -> Volume:
    from .tiff import read_tiff

    return read_tiff(path, mmap=mmap, **options)


def _tiff_write(path: Path, data: np.ndarray, like: Volume | None) -> None:
    from .tiff import write_tiff

    write_tiff(path, data, like)


def _nifti_read(path: Path, mmap: bool = False) -> Volume:
    from .nifti import read_nifti

    return read_nifti(path, mmap=mmap)


def _nifti_write(path: Path, data: np.ndarray, like: Volume | None) -> None:
    from .nifti import write_nifti

    write_nifti(path, data, like)


def _npy_read(path: Path, mmap: bool = False) -> Volume:
    from .numpy_io import read_npy

    return read_npy(path, mmap=mmap)


def _npy_write(path: Path, data: np.ndarray, like: Volume | None) -> None:
    from .numpy_io import write_npy

    write_npy(path, data, like)


def _dicom_read(path: Path, mmap: bool = False, **options) -> Volume:
    from .dicom import read_dicom

    return read_dicom(path, **options)


def _omezarr_read(path: Path, mmap: bool = False) -> Volume:
    from .omezarr import read_omezarr

    return read_omezarr(path, mmap=mmap)


def _omezarr_write(path: Path, data: np.ndarray, like: Volume | None) -> None:
    from .omezarr import write_omezarr

    write_omezarr(path, data, like)


FORMATS: tuple[Format, ...] = (
    Format(
        "tiff",
        (".tif", ".tiff"),
        "TIFF (ImageJ / OME, spacing kept)",
        _tiff_read,
        _tiff_write,
        True,
        ("series",),
    ),
    Format("nifti", (".nii.gz", ".nii"), "NIfTI (affine kept)", _nifti_read, _nifti_write, True),
    Format("npy", (".npy",), "NumPy .npy (no metadata)", _npy_read, _npy_write),
    Format(
        "dicom",
        (".dcm",),
        "DICOM series (a folder, or one file of it)",
        _dicom_read,
        reader_options=("series", "allow_gaps"),
    ),
    Format(
        "ome-zarr",
        (".ome.zarr", ".zarr"),
        "OME-Zarr (NGFF 0.4 / 0.5; read lazily, written with a pyramid)",
        _omezarr_read,
        _omezarr_write,
        True,
        folder=True,
    ),
)
DICOM = FORMATS[3]


def format_for(path: str | os.PathLike) -> Format | None:
    """The format of ``path`` by its suffix (None when unknown)."""
    suffix = suffix_of(path)
    return next((f for f in FORMATS if suffix in f.suffixes), None)


def read_suffixes() -> tuple[str, ...]:
    return tuple(s for f in FORMATS if f.read is not None for s in f.suffixes)


def write_suffixes() -> tuple[str, ...]:
    return tuple(s for f in FORMATS if f.write is not None for s in f.suffixes)


def napari_write_suffixes() -> tuple[str, ...]:
    return tuple(s for f in FORMATS if f.in_napari_writer for s in f.suffixes)


def output_suffix(source: str | os.PathLike) -> str:
    """The suffix an output derived from ``source`` gets: the source's own when it can be
    written, else TIFF (a DICOM folder or file, an unknown suffix)."""
    fmt = format_for(source)
    if fmt is not None and fmt.write is not None and (fmt.folder or not Path(source).is_dir()):
        return suffix_of(source)
    return FORMATS[0].suffixes[0]


def is_plain_folder(path: Path) -> bool:
    """A folder that is not itself a file of a folder format (an OME-Zarr is one file)."""
    fmt = format_for(path)
    return path.is_dir() and not (fmt is not None and fmt.folder)


def output_stem(source: str | os.PathLike) -> str:
    """The name of ``source`` without its format suffix (a DICOM folder keeps its whole name; an
    OME-Zarr folder loses its suffix)."""
    path = Path(str(source).rstrip("/\\"))
    own = suffix_of(path)
    return path.name[: -len(own)] if own and not is_plain_folder(path) else path.name


def output_name(source: str | os.PathLike, tag: str = "_denoised") -> str:
    """The file name of a result derived from ``source``: ``<stem><tag><suffix>``
    (``output_stem``, ``output_suffix``)."""
    return f"{output_stem(source)}{tag}{output_suffix(Path(str(source).rstrip('/')))}"
