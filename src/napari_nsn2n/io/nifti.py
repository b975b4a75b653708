"""NIfTI-1/2 (.nii, .nii.gz) via nibabel, converted to slice-first axes ("ZYX", "TZYX")."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .volume import Volume, like_for, read_error, suffix_of, target_name

_AXES = {2: "YX", 3: "ZYX", 4: "TZYX"}
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def read_nifti(path: Path, mmap: bool = False) -> Volume:
    """Read a NIfTI image; nibabel's (X, Y, Z[, T]) array is transposed to (Z, Y, X) / (T, Z, Y, X).

    ``affine`` is the file's RAS+ voxel->world matrix for voxel indices (x, y, z) (the reverse of
    ``data``'s axes). Scaled data (scl_slope/scl_inter) come back as float32, else the stored dtype.
    """
    import nibabel as nib

    try:
        img = nib.load(str(path), mmap="r" if mmap else False)
        header = img.header  # nibabel moved scl_slope/scl_inter into img.dataobj
        slope = float(getattr(img.dataobj, "slope", 1.0))
        inter = float(getattr(img.dataobj, "inter", 0.0))
        scaled = slope != 1.0 or inter != 0.0
        data = img.get_fdata(dtype=np.float32) if scaled else np.asanyarray(img.dataobj)
    except Exception as exc:
        raise read_error(path, exc) from None
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim not in _AXES:
        raise read_error(path, f"{data.ndim}D NIfTI images are not supported (2D to 4D)")
    try:  # a damaged header field (an unknown unit code) is a damaged file, in one line
        zooms = header.get_zooms()[: data.ndim]
        unit = header.get_xyzt_units()[0]
        affine = np.asarray(img.affine, dtype=float)
    except Exception as exc:
        raise read_error(path, exc) from None
    metadata = {"nifti_header": header.copy(), "nifti_version": 2 if _is_nifti2(img) else 1}
    if unit and unit != "unknown":
        metadata["unit"] = unit
    return Volume(
        data=data.T,
        axes=_AXES[data.ndim],
        spacing=tuple(float(z) for z in reversed(zooms)),
        affine=affine,
        metadata=metadata,
        source_format="nifti",
        path=path,
    )


def write_nifti(path: Path, data: np.ndarray, like: Volume | None = None) -> None:
    """Write slice-first ``data`` (transposed back to X, Y, Z[, T]) with ``like``'s header/affine.

    The dtype is the data's (float16 -> float32, bool -> uint8); floats are written unscaled.
    A DICOM ``like`` has its LPS affine converted to RAS. Compressed when the name the file will
    have ends in .nii.gz (``path`` may be a temporary of ``io.atomic``).
    """
    import nibabel as nib

    data = np.asarray(data)
    if data.dtype == np.float16:
        data = data.astype(np.float32)
    elif data.dtype == bool:
        data = data.astype(np.uint8)
    like = like_for(data, like)
    arr = data.T
    header = None
    if like is not None and "nifti_header" in like.metadata:
        header = like.metadata["nifti_header"].copy()
        nifti2 = like.metadata.get("nifti_version") == 2
    else:
        nifti2 = False
    affine = _affine_for(like)
    cls = nib.Nifti2Image if nifti2 else nib.Nifti1Image
    img = cls(arr, affine, header=header)
    img.header.set_data_dtype(arr.dtype)
    if header is None and like is not None and like.spacing:
        img.header.set_zooms(tuple(reversed(like.spacing)))
    if header is None and like is not None and like.metadata.get("unit") in ("mm", "micron"):
        img.header.set_xyzt_units(xyz=like.metadata["unit"])
    if arr.dtype.kind == "f":
        img.header.set_slope_inter(1.0, 0.0)
    with open(path, "wb") as raw:
        if suffix_of(target_name(path)) != ".nii.gz":
            img.to_file_map({"image": nib.FileHolder(fileobj=raw)})
            return
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as f:  # nibabel's level
            img.to_file_map({"image": nib.FileHolder(fileobj=f)})


def _affine_for(like: Volume | None) -> np.ndarray:
    if like is not None and like.affine is not None:
        affine = np.asarray(like.affine, dtype=float)
        return _LPS_TO_RAS @ affine if like.source_format == "dicom" else affine
    affine = np.eye(4)
    if like is not None and like.spacing:
        spatial = list(reversed(like.spacing))[:3]
        affine[: len(spatial), : len(spatial)] = np.diag(spatial)
    return affine


def _is_nifti2(img: object) -> bool:
    import nibabel as nib

    return isinstance(img, nib.Nifti2Image)
