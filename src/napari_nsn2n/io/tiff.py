"""TIFF files via tifffile: ImageJ hyperstacks and OME-TIFF, with physical spacing.

A truncated or corrupt file is refused, not read as the pages that survived: tifffile reports
such damage in its log (an invalid page offset, a series that does not fit its shape any more), and
those reports become a FileFormatError. Axis letters come from ImageJ / OME / tifffile
metadata; a plain TIFF names none, and gets the same default as a .npy file
(``Volume.axes_known`` False). A file with several series says so in ``Volume.notes``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tifffile

from ..errors import FileFormatError
from .volume import Volume, default_axes, like_for, read_error

_IMAGEJ_DTYPES = ("uint8", "uint16", "int16", "float32")
_MICRON = ("micron", "microns", "um", "\\u00B5m", "\\u00b5m", "µm")
_OME_KEYS = {"X": "PhysicalSizeX", "Y": "PhysicalSizeY", "Z": "PhysicalSizeZ", "T": "TimeIncrement"}


_GENERIC = "QI"  # tifffile's letters for axes that the file does not name
_LOG_LOCK = threading.Lock()


def read_tiff(path: Path, mmap: bool = False, series: int | str | None = None) -> Volume:
    """Read series ``series`` (default 0); singleton axes other than Y/X are squeezed.

    Spacing per axis comes from OME PhysicalSize*/TimeIncrement or ImageJ spacing/finterval plus
    X/YResolution; None for plain TIFFs. ``mmap`` maps uncompressed contiguous files.
    """
    index = _series_index(path, series)
    try:
        with _tifffile_reports() as reports, tifffile.TiffFile(path) as tif:
            found = tif.series
            if index >= len(found):
                raise read_error(path, f"no series {index}; the file holds {len(found)} (from 0)")
            chosen = found[index]
            axes, shape = chosen.axes, chosen.shape
            announced = _announced_images(tif)
            pages = len(tif.pages)
            sizes, unit, metadata = _physical(tif, index)
            listing = [f"{s.axes} {tuple(s.shape)}" for s in found]
            data = None
            if mmap and not reports:
                try:
                    data = tifffile.memmap(path, mode="r", series=index)
                except Exception:
                    data = None
            if data is None:
                data = chosen.asarray()
        if reports:
            raise read_error(path, f"truncated or corrupt TIFF (tifffile: {reports[0]})")
        if announced is not None and announced > pages:
            raise read_error(path, f"truncated: {pages} of the {announced} images it announces")
        data = data.reshape(shape)
    except FileFormatError:
        raise
    except Exception as exc:
        raise read_error(path, exc) from None
    data, axes = _squeeze(data, axes)
    known = not set(axes) & set(_GENERIC)
    axes = _our_letters(axes, path) if known else default_axes(data.ndim)
    spacing = None
    if sizes:
        spacing = tuple(float(sizes.get(a, 1.0)) for a in axes)
    if unit:
        metadata["unit"] = unit
    notes = []
    if len(listing) > 1:
        notes.append(
            f"the file holds {len(listing)} series ({'; '.join(listing)}); read series {index}; "
            "pick another with --series N (series=N, from 0)"
        )
    return Volume(data, axes, spacing, None, metadata, "tiff", path, notes, known)


def _series_index(path: Path, series: int | str | None) -> int:
    if series is None:
        return 0
    text = str(series).strip()
    if not text.isdigit():
        raise read_error(path, f"a TIFF series is a number from 0, got {series!r}")
    return int(text)


@contextlib.contextmanager
def _tifffile_reports() -> Iterator[list[str]]:
    """The messages tifffile logs at ERROR level while the block reads (kept off the console:
    they become this reader's own error)."""
    reports: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                reports.append(" ".join(record.getMessage().split())[:160])

    logger = logging.getLogger("tifffile")
    handler = _Collect()
    with _LOG_LOCK:
        logger.addHandler(handler)
        propagate, logger.propagate = logger.propagate, False
        try:
            yield reports
        finally:
            logger.removeHandler(handler)
            logger.propagate = propagate


def _announced_images(tif: tifffile.TiffFile) -> int | None:
    """How many images an ImageJ header says the file holds (None for other files)."""
    if not tif.is_imagej or not tif.imagej_metadata:
        return None
    images = tif.imagej_metadata.get("images")
    return int(images) if isinstance(images, int) and images > 0 else None


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


def _physical(tif: tifffile.TiffFile, index: int = 0) -> tuple[dict[str, float], str | None, dict]:
    """Per-letter physical sizes of series ``index``, the unit and metadata to keep (ome_xml /
    imagej)."""
    sizes: dict[str, float] = {}
    metadata: dict = {}
    unit = None
    if tif.is_ome and tif.ome_metadata:
        metadata["ome_xml"] = tif.ome_metadata
        image = tifffile.xml2dict(tif.ome_metadata).get("OME", {}).get("Image", {})
        images = image if isinstance(image, list) else [image]
        pixels = images[min(index, len(images) - 1)].get("Pixels", {})
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
