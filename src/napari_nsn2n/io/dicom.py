"""DICOM series (a folder of single-slice files) via pydicom, an optional dependency."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError
from .volume import Volume, read_error

_INSTALL = 'pip install "napari-nsn2n[dicom]"'


def is_dicom_file(path: Path) -> bool:
    """True for a file ending in .dcm or with the "DICM" preamble marker (no pydicom needed)."""
    if path.suffix.lower() == ".dcm":
        return path.is_file()
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def read_dicom(path: Path) -> Volume:
    """Read a DICOM series from a folder (or the series of one file in its folder).

    Files that are not DICOM or have no pixel data are skipped; with several series the one of
    the given file, else the largest, is read (``metadata["dicom"]["n_series"]`` says how many).
    Slices are ordered along the normal of ImageOrientationPatient (InstanceNumber as fallback);
    RescaleSlope/Intercept are applied (int16 when exact, else float32). ``spacing`` is
    (slice step, row spacing, column spacing) in mm; ``affine`` maps voxel indices
    (column, row, slice) - the reverse of ``data``'s axes - to patient LPS millimetres.
    """
    folder = path if path.is_dir() else path.parent
    files = sorted(p for p in folder.iterdir() if p.is_file())
    if not files:
        raise read_error(path, "no DICOM images found (empty folder)")
    try:
        import pydicom
    except ImportError:
        raise FileFormatError(f"cannot read {path}: DICOM needs pydicom ({_INSTALL})") from None
    series: dict[str, list[Any]] = defaultdict(list)
    wanted = None
    for f in files:
        try:
            ds = pydicom.dcmread(f)
        except Exception:
            continue
        if "PixelData" not in ds:
            continue
        uid = str(ds.get("SeriesInstanceUID", ""))
        series[uid].append((f, ds))
        if f == path:
            wanted = uid
    if not series:
        raise read_error(path, "no DICOM images found")
    uid = wanted if wanted is not None else max(series, key=lambda u: len(series[u]))
    items = series[uid]
    try:
        return _build(path, uid, items, len(series))
    except FileFormatError:
        raise
    except Exception as exc:
        raise read_error(path, exc) from None


def _build(path: Path, uid: str, items: list, n_series: int) -> Volume:
    datasets = [ds for _, ds in items]
    positions, normal = _positions(datasets)
    if positions is not None:
        order = np.argsort(positions, kind="stable")
    else:
        numbers = [int(ds.get("InstanceNumber", 0) or 0) for ds in datasets]
        order = np.argsort(numbers, kind="stable")
    datasets = [datasets[i] for i in order]
    files = [str(items[i][0]) for i in order]
    shape = datasets[0].pixel_array.shape
    slices = []
    exact = True
    for ds in datasets:
        pixels = ds.pixel_array
        if pixels.shape != shape:
            raise read_error(path, "slices of the series have different sizes")
        slope = float(ds.get("RescaleSlope", 1) or 1)
        inter = float(ds.get("RescaleIntercept", 0) or 0)
        exact = exact and slope == 1 and inter.is_integer()
        slices.append(pixels.astype(np.float64) * slope + inter)
    data = np.stack(slices) if len(slices) > 1 else slices[0]
    if exact and data.size and data.min() >= -32768 and data.max() <= 32767:
        data = data.astype(np.int16)
    else:
        data = data.astype(np.float32)
    rgb = int(datasets[0].get("SamplesPerPixel", 1) or 1) > 1
    axes = {(2, False): "YX", (3, False): "ZYX", (3, True): "YXC", (4, True): "ZYXC"}.get(
        (data.ndim, rgb)
    )
    if axes is None:
        raise read_error(path, f"unsupported DICOM layout {data.shape}")
    first = datasets[0]
    dy, dx = (float(v) for v in first.get("PixelSpacing", (1.0, 1.0)))
    dz = float(first.get("SpacingBetweenSlices", 0) or first.get("SliceThickness", 0) or 1.0)
    step = None
    if positions is not None and len(datasets) > 1:
        sorted_pos = np.sort(positions)
        gaps = np.diff(sorted_pos)
        if np.median(gaps) > 0:
            dz = float(np.median(gaps))
            p0 = np.array(first.ImagePositionPatient, dtype=float)
            p1 = np.array(datasets[-1].ImagePositionPatient, dtype=float)
            step = (p1 - p0) / (len(datasets) - 1)
    affine = _affine(first, dx, dy, dz, normal, step)
    sizes = {"Z": dz, "Y": dy, "X": dx, "C": 1.0}
    spacing = tuple(sizes[a] for a in axes)
    summary = {
        "SeriesInstanceUID": uid,
        "Modality": str(first.get("Modality", "")),
        "SeriesDescription": str(first.get("SeriesDescription", "")),
        "n_series": n_series,
        "files": files,
    }
    if n_series > 1:
        summary["note"] = f"{n_series} series in the folder; read {uid} ({len(files)} files)"
    meta = {"dicom": summary, "unit": "mm"}
    return Volume(data, axes, spacing, affine, meta, "dicom", path)


def _positions(datasets: list) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Slice positions projected on the normal (row x column direction), or None if unknown."""
    try:
        orient = np.array(datasets[0].ImageOrientationPatient, dtype=float)
        normal = np.cross(orient[:3], orient[3:])
        pos = np.array([np.dot(np.array(d.ImagePositionPatient, float), normal) for d in datasets])
    except (AttributeError, ValueError, TypeError):
        return None, None
    if len(set(pos.round(6))) != len(pos):
        return None, normal
    return pos, normal


def _affine(ds: Any, dx: float, dy: float, dz: float, normal: Any, step: Any) -> np.ndarray | None:
    try:
        orient = np.array(ds.ImageOrientationPatient, dtype=float)
        origin = np.array(ds.ImagePositionPatient, dtype=float)
    except (AttributeError, ValueError, TypeError):
        return None
    affine = np.eye(4)
    affine[:3, 0] = orient[:3] * dx
    affine[:3, 1] = orient[3:] * dy
    affine[:3, 2] = step if step is not None else normal * dz
    affine[:3, 3] = origin
    return affine
