"""DICOM series (a folder of single-slice files) via pydicom, an optional dependency.

A series is read whole or refused: a file that looks like DICOM but cannot be read, slices of
other sizes, orientations or pixel spacings, two slices at one position, or positions that are
not evenly spaced (a missing file) are errors, never closed up silently. ``allow_gaps`` reads
such a series anyway and says in ``Volume.notes`` what is missing. A folder with several series
says which one was read and how to pick another (``series``). (Over 300 lines: every check of a
series belongs to the one reading of it.)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError
from .volume import Volume, read_error

_INSTALL = 'pip install "napari-nsn2n[dicom]"'
_GAP_TOLERANCE = 0.01  # relative deviation of a slice step from the median still counted as even
_SAME = 1e-4  # orientation cosines and pixel spacings that differ less are the same


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


@dataclass
class _Slice:
    file: Path
    header: Any  # pydicom Dataset without pixel data


def read_dicom(path: Path, series: int | str | None = None, allow_gaps: bool = False) -> Volume:
    """Read a DICOM series from a folder (or the series of one file in its folder).

    ``series`` picks one of several: a SeriesInstanceUID or a SeriesNumber; by default the
    series of the given file, else the one with the most files. Slices are ordered along the
    normal of ImageOrientationPatient (InstanceNumber where positions are missing);
    RescaleSlope/Intercept are applied (int16 when exact, else float32). ``spacing`` is (slice
    step, row spacing, column spacing) in mm; ``affine`` maps voxel indices (column, row, slice)
    - the reverse of ``data``'s axes - to patient LPS millimetres. See the module docstring for
    what is refused; ``allow_gaps`` reads past unreadable files and uneven steps with a note.
    """
    folder = path if path.is_dir() else path.parent
    files = sorted(p for p in folder.iterdir() if p.is_file())
    if not files:
        raise read_error(path, "no DICOM images found (empty folder)")
    try:
        import pydicom
    except ImportError:
        raise FileFormatError(f"cannot read {path}: DICOM needs pydicom ({_INSTALL})") from None
    groups: dict[str, list[_Slice]] = defaultdict(list)
    unreadable: list[tuple[Path, str]] = []
    imageless: list[tuple[Path, str]] = []  # DICOM files without an image: reports, DICOMDIR...
    for f in files:
        try:
            header = pydicom.dcmread(f, stop_before_pixels=True)
            for _ in header.iterall():  # pydicom decodes values lazily: every one now
                pass
            uid = str(header.get("SeriesInstanceUID", ""))
            has_image = "Rows" in header and "Columns" in header
            meant_as_image = has_image or _meant_as_image(header)
        except Exception as exc:
            if is_dicom_file(f):  # meant to be DICOM: a broken member, not a stray file
                unreadable.append((f, _short(exc)))
            continue
        if not has_image:
            if meant_as_image:  # an image file cut short
                unreadable.append((f, "its image header is incomplete"))
            else:
                imageless.append((f, uid))
            continue
        groups[uid].append(_Slice(f, header))
    # without an image but in a series of images: a damaged slice, not a stray file
    unreadable += [(f, "no image in the file") for f, uid in imageless if uid and uid in groups]
    uid = _choose(path, series, groups, unreadable)
    notes = _series_notes(uid, groups)
    try:
        volume = _build(path, uid, groups[uid], unreadable, allow_gaps, notes)
    except FileFormatError:
        raise
    except Exception as exc:
        raise read_error(path, exc) from None
    volume.metadata["dicom"]["n_series"] = len(groups)
    return volume


def _meant_as_image(header: Any) -> bool:
    """The file says it holds an image (its SOP class is an "... Image Storage"), or says too
    little to be anything else: no SOP class, or one cut short (not a known class)."""
    from pydicom.uid import UID

    meta = getattr(header, "file_meta", None)
    sop = header.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID") if meta else None)
    if not sop:
        return True
    name = UID(str(sop)).name
    return name == str(sop) or "Image Storage" in name


def _choose(
    path: Path,
    series: int | str | None,
    groups: dict[str, list[_Slice]],
    unreadable: list[tuple[Path, str]],
) -> str:
    if not groups:
        if unreadable:
            f, reason = unreadable[0]
            raise read_error(path, f"no readable DICOM images ({f.name}: {reason})")
        raise read_error(path, "no DICOM images found")
    if series is not None:
        wanted = str(series).strip()
        for uid, items in groups.items():
            number = items[0].header.get("SeriesNumber")
            if wanted == uid or (number is not None and wanted == str(number)):
                return uid
        raise read_error(path, f"no series {wanted!r} here; the folder holds {_listing(groups)}")
    if path.is_file():
        for uid, items in groups.items():
            if any(s.file == path for s in items):
                return uid
    return max(groups, key=lambda u: len(groups[u]))


def _listing(groups: dict[str, list[_Slice]]) -> str:
    parts = []
    for uid, items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        first = items[0].header
        number = first.get("SeriesNumber")
        label = f"number {number}, " if number is not None else ""
        description = str(first.get("SeriesDescription", "") or "").strip()
        described = f" {description!r}" if description else ""
        parts.append(f"{uid} ({label}{len(items)} files{described})")
    return "; ".join(parts)


def _series_notes(uid: str, groups: dict[str, list[_Slice]]) -> list[str]:
    if len(groups) < 2:
        return []
    others = {u: g for u, g in groups.items() if u != uid}
    return [
        f"the folder holds {len(groups)} series; read {uid} ({len(groups[uid])} files); "
        f"the others: {_listing(others)}; pick one with --series UID or NUMBER (series=...), "
        "or give one of its files"
    ]


def _build(
    path: Path,
    uid: str,
    items: list[_Slice],
    unreadable: list[tuple[Path, str]],
    allow_gaps: bool,
    notes: list[str],
) -> Volume:
    import pydicom

    if unreadable:
        names = ", ".join(f"{f.name} ({reason})" for f, reason in unreadable[:3])
        more = f" and {len(unreadable) - 3} more" if len(unreadable) > 3 else ""
        if not allow_gaps:
            raise read_error(
                path,
                f"{len(unreadable)} DICOM file(s) cannot be read: {names}{more}; the series would "
                "have a gap: repair or remove them, or read the rest with --allow-gaps",
            )
        notes.append(f"skipped {len(unreadable)} unreadable file(s): {names}{more}")
    headers = [s.header for s in items]
    _check_consistent(path, headers)
    positions, normal = _positions(path, headers)
    if positions is not None:
        order = np.argsort(positions, kind="stable")
    else:
        numbers = [int(h.get("InstanceNumber", 0) or 0) for h in headers]
        order = np.argsort(numbers, kind="stable")
        if len(items) > 1:
            notes.append("no slice positions: ordered by InstanceNumber")
    items = [items[i] for i in order]
    slices, exact, shape = [], True, None
    for item in items:
        try:
            ds = pydicom.dcmread(item.file)
            pixels = ds.pixel_array
        except Exception as exc:
            if not allow_gaps:
                raise read_error(
                    path,
                    f"the pixel data of {item.file.name} cannot be read ({_short(exc)}); repair "
                    "or remove it, or read the rest with --allow-gaps",
                ) from None
            notes.append(f"skipped {item.file.name}: its pixel data cannot be read")
            continue
        if shape is None:
            shape = pixels.shape
        slope = float(ds.get("RescaleSlope", 1) or 1)
        inter = float(ds.get("RescaleIntercept", 0) or 0)
        exact = exact and slope == 1 and inter.is_integer()
        slices.append((item, pixels.astype(np.float64) * slope + inter))
    if not slices:
        raise read_error(path, "no slice of the series has readable pixel data")
    kept = [item for item, _ in slices]
    data = np.stack([p for _, p in slices]) if len(slices) > 1 else slices[0][1]
    if exact and data.size and data.min() >= -32768 and data.max() <= 32767:
        data = data.astype(np.int16)
    else:
        data = data.astype(np.float32)
    first = kept[0].header
    rgb = int(first.get("SamplesPerPixel", 1) or 1) > 1
    axes = {(2, False): "YX", (3, False): "ZYX", (3, True): "YXC", (4, True): "ZYXC"}.get(
        (data.ndim, rgb)
    )
    if axes is None:
        raise read_error(path, f"unsupported DICOM layout {data.shape}")
    dy, dx = (float(v) for v in first.get("PixelSpacing", (1.0, 1.0)))
    dz = float(first.get("SpacingBetweenSlices", 0) or first.get("SliceThickness", 0) or 1.0)
    step = None
    if positions is not None and len(kept) > 1:
        kept_positions, _ = _positions(path, [s.header for s in kept])
        dz, even = _check_steps(path, kept_positions, kept, allow_gaps, notes)
        if even:
            p0 = np.array(first.ImagePositionPatient, dtype=float)
            p1 = np.array(kept[-1].header.ImagePositionPatient, dtype=float)
            step = (p1 - p0) / (len(kept) - 1)
    affine = _affine(first, dx, dy, dz, normal, step)
    sizes = {"Z": dz, "Y": dy, "X": dx, "C": 1.0}
    spacing = tuple(sizes[a] for a in axes)
    summary = {
        "SeriesInstanceUID": uid,
        "Modality": str(first.get("Modality", "")),
        "SeriesDescription": str(first.get("SeriesDescription", "")),
        "files": [str(s.file) for s in kept],
    }
    if notes:
        summary["note"] = "; ".join(notes)
    meta = {"dicom": summary, "unit": "mm"}
    return Volume(data, axes, spacing, affine, meta, "dicom", path, notes=notes)


def _check_consistent(path: Path, headers: list) -> None:
    """Every slice of one size, orientation and pixel spacing (else it is not one volume)."""
    for key, what in (
        (lambda h: (int(h.get("Rows", 0)), int(h.get("Columns", 0))), "sizes"),
        (lambda h: tuple(float(v) for v in h.get("ImageOrientationPatient", ())), "orientations"),
        (lambda h: tuple(float(v) for v in h.get("PixelSpacing", ())), "pixel spacings"),
    ):
        values = [key(h) for h in headers]
        reference = values[0]
        for value in values[1:]:
            if len(value) != len(reference) or np.any(
                np.abs(np.subtract(value, reference, dtype=float)) > _SAME
            ):
                raise read_error(
                    path, f"the slices of the series have different {what}: {reference} and {value}"
                )


def _check_steps(
    path: Path, positions: np.ndarray, kept: list[_Slice], allow_gaps: bool, notes: list[str]
) -> tuple[float, bool]:
    """The slice step (median gap) and whether all steps are even; uneven steps are refused, or
    noted with ``allow_gaps``."""
    steps = np.diff(positions)
    median = float(np.median(steps))
    uneven = np.flatnonzero(np.abs(steps - median) > _GAP_TOLERANCE * abs(median) + 1e-3)
    if uneven.size:
        k = int(uneven[0])
        where = (
            f"{steps[k]:.4g} mm between slices {k} and {k + 1} ({kept[k].file.name}, "
            f"{kept[k + 1].file.name}) where the step is {median:.4g} mm"
        )
        more = f" ({uneven.size} such steps)" if uneven.size > 1 else ""
        if not allow_gaps:
            raise read_error(
                path,
                f"the slice positions are not evenly spaced: {where}{more}; a file may be "
                "missing (read it anyway with --allow-gaps)",
            )
        notes.append(f"gap: {where}{more}")
    return median, not uneven.size


def _positions(path: Path, headers: list) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Slice positions projected on the normal (row x column direction), or None if unknown;
    two slices at one position are refused (several acquisitions in one series)."""
    try:
        orient = np.array(headers[0].ImageOrientationPatient, dtype=float)
        normal = np.cross(orient[:3], orient[3:])
        pos = np.array([np.dot(np.array(h.ImagePositionPatient, float), normal) for h in headers])
    except (AttributeError, ValueError, TypeError):
        return None, None
    rounded = pos.round(4)
    if len(set(rounded)) != len(pos):
        values, counts = np.unique(rounded, return_counts=True)
        raise read_error(
            path,
            f"{int(counts.max())} slices of the series lie at the same position "
            f"({values[counts.argmax()]:.4g} mm): several acquisitions in one series are not "
            "one volume",
        )
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


def _short(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:120]
