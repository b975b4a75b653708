"""npe2 reader: TIFF, NIfTI (.nii, .nii.gz), .npy, DICOM series (a folder or one .dcm file) and
OME-Zarr (a folder; every pyramid level, lazily, as one multiscale layer).

Each path gives one image layer whose ``scale`` is the file's voxel spacing (slice axis first);
napari's ``affine`` stays the identity, so the voxel size is never counted twice. The file's own
voxel->world affine (NIfTI RAS+ / DICOM LPS) is kept, with the header, in
``metadata["nsn2n_volume"]`` so that the writer (and a denoised layer derived from this one)
writes it back unchanged. See :mod:`napari_nsn2n._napari.layers` for the full convention.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..io import Volume, is_supported_path, read_volume
from .layers import layer_tuple

PathLike = str | os.PathLike
LayerData = tuple[Any, dict[str, Any], str]


def get_reader(path: PathLike | Sequence[PathLike]) -> Callable[..., list[LayerData]] | None:
    """The reader function when every path is a supported file or a DICOM folder, else None."""
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    if not paths or not all(is_supported_path(p) for p in paths):
        return None
    return read_paths


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
