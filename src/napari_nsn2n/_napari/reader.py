"""npe2 reader: stacks in NIfTI (.nii, .nii.gz), DICOM series (a folder or one .dcm file) and
OME-Zarr (a folder; every pyramid level, lazily, as one multiscale layer); ``read_paths`` (the
dock widget's "Open…") also reads TIFF and .npy stacks.

Each path gives one image layer whose ``scale`` is the file's voxel spacing (slice axis first);
napari's ``affine`` stays the identity, so the voxel size is never counted twice. The file's own
voxel->world affine (NIfTI RAS+ / DICOM LPS) is kept, with the header, in
``metadata["nsn2n_volume"]`` so that the writer (and a denoised layer derived from this one)
writes it back unchanged. See :mod:`napari_nsn2n._napari.layers` for the full convention.

Which files napari offers to this reader is decided by the manifest's filename patterns alone,
before any reader looks at the file: a pattern that two plugins share makes napari ask the user
to choose on every such file. napari's own reader opens every TIFF and .npy, so claiming those
patterns would put a reader choice in front of every 2D photo; the manifest claims NIfTI, DICOM
and folders, and ``get_reader`` also declines a file that is not a stack (2D, RGB) so a reader
preference pointing here never swallows such files. TIFFs keep their spacing through the dock
widget ("Open…", or "Use file spacing" on a TIFF another reader opened).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..io import Volume, is_supported_path, read_volume
from .layers import layer_tuple

PathLike = str | os.PathLike
LayerData = tuple[Any, dict[str, Any], str]


def get_reader(path: PathLike | Sequence[PathLike]) -> Callable[..., list[LayerData]] | None:
    """The reader function when every path is a supported stack (or a DICOM folder), else None:
    unsupported suffixes, and files whose header says they hold one 2D or RGB image."""
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    if not paths or not all(is_supported_path(p) for p in paths):
        return None
    if len(paths) == 1 and not _may_be_stack(Path(paths[0])):
        return None
    return read_paths


def _may_be_stack(path: Path) -> bool:
    """False when the file's header shows a single 2D image or an RGB(A) image; True when it
    shows a stack or cannot tell cheaply (the reader then reports what it finds)."""
    found = _header_shape(path)
    if found is None:
        return True
    shape, rgb = found
    return sum(s > 1 for s in shape) >= 3 and not rgb


def _header_shape(path: Path) -> tuple[tuple[int, ...], bool] | None:
    """(shape, is RGB) as a file's header declares them (None when unknown)."""
    name = path.name.lower()
    try:
        if name.endswith((".tif", ".tiff")):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                return tuple(series.shape), "S" in series.axes  # S: samples per pixel
        if name.endswith(".npy"):
            shape = tuple(np.load(path, mmap_mode="r").shape)
            return shape, len(shape) == 3 and shape[-1] in (3, 4) and min(shape[:2]) >= 16
        if name.endswith((".nii", ".nii.gz")):
            import nibabel

            header = nibabel.load(str(path)).header
            return tuple(header.get_data_shape()), header.get_data_dtype().names is not None
    except Exception:  # an unreadable header: let the reader raise its one-line error
        return None
    return None


def read_paths(path: PathLike | Sequence[PathLike]) -> list[LayerData]:
    """Read each path into ``[(data, add_kwargs, "image"), ...]`` (one layer per path).

    Several .dcm files of one series give a single layer. Unreadable files raise
    :class:`~napari_nsn2n.errors.FileFormatError` (one line naming the file), which napari shows.
    """
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    layers: list[LayerData] = []
    seen: set[str] = set()  # DICOM files already read as part of a series
    for p in paths:
        if str(Path(p).resolve()) in seen:
            continue
        volume = read_volume(p)
        if volume.source_format == "dicom":
            seen.update(str(Path(f).resolve()) for f in volume.metadata["dicom"].get("files", ()))
        layers.append(
            omezarr_layer(volume) if volume.source_format == "ome-zarr" else layer_tuple(volume)
        )
    return layers


def omezarr_layer(volume: Volume) -> LayerData:
    """A multiscale layer of every pyramid level (read lazily), contrast from the smallest."""
    from ..io.omezarr import read_pyramid

    levels = read_pyramid(volume.path)
    _, kwargs, kind = layer_tuple(replace(volume, data=levels[-1]))
    return levels, {**kwargs, "multiscale": len(levels) > 1}, kind
