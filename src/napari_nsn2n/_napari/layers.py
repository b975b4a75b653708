"""Volume <-> napari image layer: data, scale, contrast limits and the metadata to write it back.

Conventions (shared by the reader, the writer, the sample data and the dock widget):

* ``scale`` is the Volume's ``spacing`` (one entry per axis, slice axis first; 1.0 per axis when
  the file has none). napari's ``affine`` is left as the identity and ``translate`` at 0: the
  layer lives in *scaled voxel* coordinates, so a NIfTI/DICOM direction matrix never counts the
  voxel size twice and layers from different files line up voxel by voxel.
* The file's voxel->world ``affine`` (NIfTI RAS+, DICOM LPS, for the file's reversed axis order)
  is kept unchanged in ``metadata["nsn2n_volume"]["affine"]``, together with ``axes``,
  ``spacing``, ``source_format``, ``path`` and the format's own metadata (NIfTI header, OME XML,
  ImageJ keys, DICOM summary, unit). :func:`volume_from_layer` rebuilds a :class:`Volume` from
  it, so saving the layer (or a denoised layer that copied it) writes the same header/affine.
* If the layer's ``scale`` was changed in napari, the layer wins: its scale becomes the spacing,
  and the stored affine / NIfTI header (which would contradict it) are dropped.

Metadata keys: ``VOLUME_KEY`` ("nsn2n_volume"), ``CLEAN_KEY`` ("nsn2n_clean": noiseless
reference of a sample), ``SAMPLE_KEY`` ("nsn2n_sample": sample info incl. the suggested
threshold) and ``"description"`` (a sample's source and licence).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..display import display_range
from ..io import Volume
from ..io.volume import suffix_of

__all__ = [
    "CLEAN_KEY",
    "SAMPLE_KEY",
    "VOLUME_KEY",
    "contrast_limits_for",
    "derived_layer_kwargs",
    "layer_name_for",
    "layer_tuple",
    "volume_from_layer",
    "volume_from_meta",
    "volume_metadata",
]

VOLUME_KEY = "nsn2n_volume"
CLEAN_KEY = "nsn2n_clean"
SAMPLE_KEY = "nsn2n_sample"
_AXIS_NAMES = {"T": "t", "Z": "z", "C": "c", "Y": "y", "X": "x"}
_UNITS = {
    "mm": "millimeter",
    "µm": "micrometer",
    "micron": "micrometer",
    "microns": "micrometer",
    "um": "micrometer",
    "\\u00B5m": "micrometer",  # how ImageJ escapes µ in its description
    "\\u00b5m": "micrometer",
    "nm": "nanometer",
}


def volume_unit(volume: Volume) -> str | None:
    """The napari unit of a volume's spacing: its ``unit``, else the ImageJ header's."""
    raw = volume.metadata.get("unit") or (volume.metadata.get("imagej") or {}).get("unit")
    return _UNITS.get(str(raw or ""))


def volume_metadata(volume: Volume) -> dict[str, Any]:
    """The ``metadata[VOLUME_KEY]`` dict of a layer made from ``volume`` (everything but data)."""
    return {
        "axes": volume.axes,
        "spacing": None if volume.spacing is None else tuple(float(s) for s in volume.spacing),
        "affine": None if volume.affine is None else np.array(volume.affine, dtype=float),
        "source_format": volume.source_format,
        "path": None if volume.path is None else str(volume.path),
        "metadata": dict(volume.metadata),
    }


def layer_name_for(volume: Volume) -> str:
    """A layer name: the file name without its suffix, or a DICOM series' folder name."""
    if volume.path is None:
        return "image"
    p = Path(volume.path)
    if volume.source_format == "dicom":
        desc = str(volume.metadata.get("dicom", {}).get("SeriesDescription", "")).strip()
        folder = p if p.is_dir() else p.parent
        return f"{folder.name} ({desc})" if desc else folder.name
    suffix = suffix_of(p)
    return p.name[: -len(suffix)] if suffix and p.name.lower().endswith(suffix) else p.name


def contrast_limits_for(data: Any, volume: Volume | None = None) -> tuple[float, float] | None:
    """Robust contrast limits (``display.display_range``): the soft-tissue window for CT in HU
    (a DICOM series with Modality "CT", or ``metadata["units"] == "HU"``), else percentiles."""
    return display_range(data, ct=volume is not None and _is_ct(volume))


def _is_ct(volume: Volume) -> bool:
    meta = volume.metadata
    modality = str(meta.get("dicom", {}).get("Modality", "")).upper()
    return modality == "CT" or str(meta.get("units", "")) == "HU"


def layer_tuple(
    volume: Volume, name: str | None = None, **extra: Any
) -> tuple[Any, dict[str, Any], str]:
    """``(data, add_kwargs, "image")`` for napari: name, scale, contrast limits, metadata.

    ``extra`` keywords are added to the kwargs (``metadata`` entries are merged).
    """
    data = volume.data
    kwargs: dict[str, Any] = {
        "name": name or layer_name_for(volume),
        "metadata": {VOLUME_KEY: volume_metadata(volume)},
    }
    if volume.spacing is not None:
        kwargs["scale"] = tuple(float(s) for s in volume.spacing)
    if len(volume.axes) == np.ndim(data) and volume.axes[-1] != "C":
        kwargs["axis_labels"] = tuple(_AXIS_NAMES.get(a, a.lower()) for a in volume.axes)
    unit = volume_unit(volume)
    if unit and volume.spacing is not None and len(volume.axes) == np.ndim(data):
        kwargs["units"] = tuple(unit if a in "ZYX" else "pixel" for a in volume.axes)
    limits = contrast_limits_for(data, volume)
    if limits is not None:
        kwargs["contrast_limits"] = limits
    if volume.axes.endswith("C") and np.shape(data)[-1] in (3, 4):
        kwargs["rgb"] = True
        kwargs.pop("contrast_limits", None)
    metadata = extra.pop("metadata", None) or {}
    kwargs["metadata"].update(metadata)
    kwargs.update(extra)
    return data, kwargs, "image"


def volume_from_meta(data: Any, meta: dict[str, Any] | None) -> Volume:
    """Rebuild a :class:`Volume` from layer data and a layer state (``layer._get_state()``, or the
    ``meta`` dict an npe2 writer receives): ``meta["metadata"][VOLUME_KEY]`` when present (and of
    the same dimensionality), else axes from the number of dimensions and spacing from
    ``meta["scale"]``. See the module docstring for which of scale / stored spacing wins.
    """
    from ..io.volume import default_axes

    meta = meta or {}
    arr = data if isinstance(data, np.ndarray) else np.asarray(data)
    ndim = arr.ndim
    scale = meta.get("scale")
    scale = None if scale is None else tuple(float(s) for s in np.ravel(scale))
    if scale is not None and len(scale) != ndim:
        scale = None
    stored = (meta.get("metadata") or {}).get(VOLUME_KEY)
    if isinstance(stored, dict) and len(str(stored.get("axes", ""))) == ndim:
        spacing = stored.get("spacing")
        spacing = None if spacing is None else tuple(float(s) for s in spacing)
        affine = stored.get("affine")
        affine = None if affine is None else np.array(affine, dtype=float)
        extra = dict(stored.get("metadata") or {})
        if scale is not None and not _same_scale(scale, spacing):
            spacing, affine = scale, None
            extra.pop("nifti_header", None)
        path = stored.get("path")
        return Volume(
            data=arr,
            axes=str(stored["axes"]),
            spacing=spacing,
            affine=affine,
            metadata=extra,
            source_format=str(stored.get("source_format") or ""),
            path=None if path is None else Path(path),
        )
    axes = default_axes(ndim)
    if meta.get("rgb") and ndim in (3, 4):
        axes = "YXC" if ndim == 3 else "ZYXC"
    spacing = scale if scale is not None and not np.allclose(scale, 1.0) else None
    extra = {}
    units = (meta.get("metadata") or {}).get("unit")
    if units:
        extra["unit"] = units
    return Volume(arr, axes, spacing, None, extra, "", None)


def _same_scale(scale: tuple[float, ...], spacing: tuple[float, ...] | None) -> bool:
    if spacing is None:
        return np.allclose(scale, 1.0)
    return len(spacing) == len(scale) and np.allclose(scale, spacing, rtol=1e-6, atol=0)


def volume_from_layer(layer: Any) -> Volume:
    """The :class:`Volume` (data, axes, spacing, affine, format metadata) of a napari image layer."""
    data = layer.data
    if getattr(layer, "multiscale", False):
        data = data[0]
    meta = {
        "scale": tuple(layer.scale),
        "metadata": dict(layer.metadata or {}),
        "rgb": getattr(layer, "rgb", False),
    }
    return volume_from_meta(data, meta)


def derived_layer_kwargs(layer: Any, name: str, **extra: Any) -> dict[str, Any]:
    """``add_image`` kwargs for a layer computed from ``layer`` with the same shape (e.g. the
    denoised stack): same scale / translate / affine and the source's ``VOLUME_KEY`` metadata
    (so saving it writes the source's spacing, affine and header), without ``CLEAN_KEY``."""
    metadata = {k: v for k, v in (layer.metadata or {}).items() if k != CLEAN_KEY}
    if VOLUME_KEY not in metadata:
        metadata[VOLUME_KEY] = volume_metadata(volume_from_layer(layer).with_data(layer.data))
    kwargs: dict[str, Any] = {
        "name": name,
        "scale": tuple(layer.scale),
        "translate": tuple(layer.translate),
        "metadata": metadata,
    }
    affine = getattr(layer, "affine", None)
    if affine is not None:
        kwargs["affine"] = np.asarray(affine.affine_matrix)
    for key in ("axis_labels", "units"):
        value = getattr(layer, key, None)
        if value is not None:
            kwargs[key] = tuple(str(v) for v in value)
    extra_meta = extra.pop("metadata", None) or {}
    kwargs["metadata"].update(extra_meta)
    kwargs.update(extra)
    return kwargs
