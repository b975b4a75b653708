"""TIFF files via tifffile: ImageJ hyperstacks and OME-TIFF, with physical spacing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from ..errors import FileFormatError
from .volume import Volume, default_axes, like_for, read_error

_IMAGEJ_DTYPES = ("uint8", "uint16", "int16", "float32")
_MICRON = ("micron", "microns", "um", "\\u00B5m", "\\u00b5m", "µm")
_OME_KEYS = {"X": "PhysicalSizeX", "Y": "PhysicalSizeY", "Z": "PhysicalSizeZ", "T": "TimeIncrement"}


def read_tiff(path: Path, mmap: bool = False) -> Volume:
    """Read the first series; singleton axes other than Y/X are squeezed.

    Spacing per axis comes from OME PhysicalSize*/TimeIncrement or ImageJ spacing/finterval plus
    X/YResolution; None for plain TIFFs. ``mmap`` maps uncompressed contiguous files.
    """
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes, shape = series.axes, series.shape
            sizes, unit, metadata = _physical(tif)
            data = None
            if mmap:
                try:
                    data = tifffile.memmap(path, mode="r")
                except Exception:
                    data = None
            if data is None:
                data = series.asarray()
        data = data.reshape(shape)
    except Exception as exc:
        raise read_error(path, exc) from None
    data, axes = _squeeze(data, axes)
    axes = _our_letters(axes, path)
    spacing = None
    if sizes:
        spacing = tuple(float(sizes.get(a, 1.0)) for a in axes)
    if unit:
        metadata["unit"] = unit
    return Volume(data, axes, spacing, None, metadata, "tiff", path)


def write_tiff(path: Path, data: np.ndarray, like: Volume | None = None) -> None:
    """ImageJ hyperstack when ImageJ can hold it (uint8/uint16/int16/float32, TZCYX order),
    else OME-TIFF; spacing and unit come from ``like``."""
    data = np.asarray(data)
    like = like_for(data, like)
    axes = like.axes if like is not None else default_axes(data.ndim)
    sizes = dict(zip(axes, like.spacing, strict=True)) if like is not None and like.spacing else {}
    unit = str(like.metadata.get("unit") or "") if like is not None else ""
    if data.dtype.name in _IMAGEJ_DTYPES and _is_subsequence(axes, "TZCYX") and axes[-2:] == "YX":
        meta: dict = {"axes": axes}
        if "Z" in sizes:
            meta["spacing"] = sizes["Z"]
        if "T" in sizes:
            meta["finterval"] = sizes["T"]
        if unit:
            meta["unit"] = "micron" if unit in _MICRON else unit.encode("ascii", "replace").decode()
        extra = {}
        if "X" in sizes and "Y" in sizes:
            extra["resolution"] = (1.0 / sizes["X"], 1.0 / sizes["Y"])
        tifffile.imwrite(path, data, imagej=True, photometric="minisblack", metadata=meta, **extra)
        return
    meta = {"axes": axes}
    for letter, key in _OME_KEYS.items():
        if letter in sizes:
            meta[key] = sizes[letter]
            if letter != "T" and unit:
                meta[key + "Unit"] = "µm" if unit in _MICRON else unit
    tifffile.imwrite(path, data, ome=True, photometric="minisblack", metadata=meta)


def _physical(tif: tifffile.TiffFile) -> tuple[dict[str, float], str | None, dict]:
    """Per-letter physical sizes, the unit and metadata to keep (ome_xml / imagej)."""
    sizes: dict[str, float] = {}
    metadata: dict = {}
    unit = None
    if tif.is_ome and tif.ome_metadata:
        metadata["ome_xml"] = tif.ome_metadata
        image = tifffile.xml2dict(tif.ome_metadata).get("OME", {}).get("Image", {})
        pixels = (image[0] if isinstance(image, list) else image).get("Pixels", {})
        sizes = {k: float(pixels[v]) for k, v in _OME_KEYS.items() if v in pixels}
        if sizes.keys() & {"X", "Y", "Z"}:
            unit = str(pixels.get("PhysicalSizeXUnit", "µm"))
    elif tif.is_imagej and tif.imagej_metadata:
        ij = tif.imagej_metadata
        metadata["imagej"] = {k: v for k, v in ij.items() if isinstance(v, int | float | str)}
        if "spacing" in ij:
            sizes["Z"] = float(ij["spacing"])
        if "finterval" in ij:
            sizes["T"] = float(ij["finterval"])
        tags = tif.pages.first.tags
        for letter, name in (("X", "XResolution"), ("Y", "YResolution")):
            if name in tags:
                num, den = tags[name].value
                if num:
                    sizes[letter] = den / num
        unit = ij.get("unit")
    if unit in _MICRON:
        unit = "µm"
    return sizes, unit, metadata


def _squeeze(data: np.ndarray, axes: str) -> tuple[np.ndarray, str]:
    keep = [i for i, (a, n) in enumerate(zip(axes, data.shape, strict=True)) if n != 1 or a in "YX"]
    return data.reshape([data.shape[i] for i in keep]), "".join(axes[i] for i in keep)


def _our_letters(axes: str, path: Path) -> str:
    """tifffile letters -> T Z C Y X: samples 'S' become 'C', generic ones ('I', 'Q'...) Z/T/C."""
    axes = axes.replace("S", "C") if "C" not in axes else axes
    taken = {a for a in axes if a in "TZCYX"}
    out = []
    for a in axes:
        if a in "TZCYX" and a not in out:
            out.append(a)
            continue
        free = [c for c in "ZTC" if c not in taken]
        if not free:
            raise FileFormatError(f"cannot read {path}: unsupported TIFF axes {axes!r}")
        out.append(free[0])
        taken.add(free[0])
    return "".join(out)


def _is_subsequence(axes: str, order: str) -> bool:
    it = iter(order)
    return all(a in it for a in axes)
