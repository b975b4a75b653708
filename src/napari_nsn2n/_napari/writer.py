"""npe2 single-layer image writer: TIFF (.tif/.tiff), NIfTI (.nii/.nii.gz) and OME-Zarr
(.ome.zarr, with a pyramid) with spacing.

The layer's ``metadata["nsn2n_volume"]`` (set by the reader, the samples and derived layers)
rebuilds the source :class:`~napari_nsn2n.io.Volume` that :func:`~napari_nsn2n.io.write_volume`
takes as ``like``: axes, spacing, NIfTI header / affine (a DICOM LPS affine becomes RAS+ in
NIfTI), unit. Without it, the spacing is the layer's ``scale``. The data are written with their
own dtype. An existing file is replaced (napari's save dialog has already asked).
"""

from __future__ import annotations

from typing import Any

from ..errors import FileFormatError
from ..io import write_volume
from ..io.registry import napari_write_suffixes
from ..io.volume import suffix_of
from .layers import volume_from_meta


def write_image(path: str, data: Any, meta: dict) -> list[str]:
    """Write one image layer to ``path``; returns ``[path]``.

    Raises FileFormatError for another suffix, OutputError when the file cannot be written.
    """
    suffixes = napari_write_suffixes()
    if suffix_of(path) not in suffixes:
        raise FileFormatError(f"cannot write {path}: the NS-N2N writer saves {', '.join(suffixes)}")
    if isinstance(data, list) or meta.get("multiscale"):  # the full-resolution level
        data = data[0]
    volume = volume_from_meta(data, meta)
    written = write_volume(path, volume, overwrite=True)
    return [str(written)]
