"""read_volume / write_volume on real files: TIFF (ImageJ, OME), NIfTI, .npy, DICOM series."""

import gzip
import os
import sys

import nibabel as nib
import numpy as np
import pytest
import tifffile

from dicom_series import write_ct_series
from napari_nsn2n.errors import FileFormatError, OutputError
from napari_nsn2n.io import (
    Volume,
    check_output_path,
    is_supported_path,
    read_suffixes,
    read_volume,
    write_volume,
)

RNG = np.random.default_rng(0)
SPACING = (2.5, 0.3, 0.123456789)


def _stack(dtype, shape=(4, 16, 12)):
    if np.dtype(dtype).kind == "f":
        return RNG.normal(size=shape).astype(dtype)
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


# --- TIFF -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["uint16", "float32", "int16", "float64"])
def test_tiff_round_trip_keeps_data_dtype_and_spacing(tmp_path, dtype):
    data = _stack(dtype)
    out = write_volume(
        tmp_path / "a.tif", Volume(data, "ZYX", SPACING, metadata={"unit": "µm"}, path=None)
    )
    vol = read_volume(out)
    assert vol.source_format == "tiff"
    assert vol.axes == "ZYX"
    assert vol.data.dtype == data.dtype
    np.testing.assert_array_equal(vol.data, data)
    np.testing.assert_allclose(vol.spacing, SPACING, rtol=1e-6)
    assert vol.metadata["unit"] == "µm"
    with tifffile.TiffFile(out) as tif:  # ImageJ where ImageJ can hold the dtype, else OME
        assert tif.is_imagej == (dtype != "float64")
        assert tif.is_ome == (dtype == "float64")


def test_tiff_hyperstack_tzyx_keeps_time_interval(tmp_path):
    data = _stack("uint8", (3, 2, 8, 9))
    spacing = (0.5, 2.0, 0.25, 0.2)
    out = write_volume(tmp_path / "t.tiff", Volume(data, "TZYX", spacing))
    vol = read_volume(out)
    assert vol.axes == "TZYX"
    np.testing.assert_array_equal(vol.data, data)
    np.testing.assert_allclose(vol.spacing, spacing, rtol=1e-6)


def test_ome_tiff_physical_sizes_are_read(tmp_path):
    data = _stack("uint16", (5, 10, 11))
    path = tmp_path / "x.ome.tif"
    meta = {"axes": "ZYX", "PhysicalSizeX": 0.11, "PhysicalSizeY": 0.12, "PhysicalSizeZ": 1.5}
    tifffile.imwrite(path, data, ome=True, photometric="minisblack", metadata=meta)
    vol = read_volume(path)
    assert vol.axes == "ZYX"
    np.testing.assert_array_equal(vol.data, data)
    np.testing.assert_allclose(vol.spacing, (1.5, 0.12, 0.11), rtol=1e-9)
    assert vol.metadata["unit"] == "µm"
    assert "ome_xml" in vol.metadata


def test_plain_tiff_singleton_axes_are_squeezed(tmp_path):
    data = _stack("uint16", (1, 6, 1, 7, 8))
    path = tmp_path / "p.tif"
    tifffile.imwrite(path, data, photometric="minisblack", metadata={"axes": "TZCYX"})
    vol = read_volume(path)
    assert vol.data.shape == (6, 7, 8)
    assert vol.axes == "ZYX"
    assert vol.spacing is None
    np.testing.assert_array_equal(vol.data, data[0, :, 0])


def test_tiff_mmap_returns_memmap(tmp_path):
    data = _stack("uint16")
    out = write_volume(tmp_path / "m.tif", data)
    vol = read_volume(out, mmap=True)
    assert isinstance(vol.data, np.memmap)
    np.testing.assert_array_equal(vol.data, data)


# --- NIfTI ----------------------------------------------------------------------------------------


def _nifti(path, shape=(6, 5, 4), dtype=np.int16):
    arr = np.arange(np.prod(shape), dtype=dtype).reshape(shape)
    arr[1, 2, 3] = 999  # x=1, y=2, z=3
    affine = np.array(
        [[-0.8, 0, 0, 10.0], [0, 0.9, 0, -20.0], [0, 0, 2.5, 30.0], [0, 0, 0, 1]], dtype=float
    )
    img = nib.Nifti1Image(arr, affine)
    img.header.set_xyzt_units("mm")
    nib.save(img, str(path))
    return arr, affine


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_nifti_round_trip_keeps_orientation_affine_and_zooms(tmp_path, suffix):
    arr, affine = _nifti(tmp_path / f"in{suffix}")
    vol = read_volume(tmp_path / f"in{suffix}")
    assert vol.source_format == "nifti"
    assert vol.axes == "ZYX"
    assert vol.data.shape == (4, 5, 6)
    assert vol.data[3, 2, 1] == 999
    assert vol.data.dtype == np.int16
    np.testing.assert_allclose(vol.spacing, (2.5, 0.9, 0.8))
    np.testing.assert_allclose(vol.affine, affine)
    assert vol.metadata["unit"] == "mm"

    out = write_volume(tmp_path / f"out{suffix}", vol)
    img = nib.load(str(out))
    assert img.get_data_dtype() == np.int16
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), arr)
    np.testing.assert_allclose(img.affine, affine)
    np.testing.assert_allclose(img.header.get_zooms(), (0.8, 0.9, 2.5))
    again = read_volume(out)
    np.testing.assert_array_equal(again.data, vol.data)


def test_nifti_float_output_like_int16_keeps_affine_and_zooms(tmp_path):
    _, affine = _nifti(tmp_path / "in.nii.gz")
    vol = read_volume(tmp_path / "in.nii.gz")
    denoised = vol.data.astype(np.float32) * 0.25 + 0.1
    out = write_volume(tmp_path / "out.nii.gz", denoised, like=vol)
    img = nib.load(str(out))
    assert img.get_data_dtype() == np.float32
    np.testing.assert_allclose(img.affine, affine)
    np.testing.assert_allclose(img.header.get_zooms(), (0.8, 0.9, 2.5))
    back = read_volume(out)
    assert back.data.dtype == np.float32
    np.testing.assert_array_equal(back.data, denoised)


def test_nifti_scaled_data_come_back_as_float32(tmp_path):
    arr = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    img = nib.Nifti1Image(arr, np.eye(4))
    img.header.set_slope_inter(2.0, -5.0)
    nib.save(img, str(tmp_path / "s.nii"))
    vol = read_volume(tmp_path / "s.nii")
    assert vol.data.dtype == np.float32
    np.testing.assert_allclose(vol.data, arr.T * 2.0 - 5.0)


def test_nifti_4d_is_tzyx(tmp_path):
    arr = np.arange(3 * 4 * 5 * 2, dtype=np.float32).reshape(3, 4, 5, 2)
    img = nib.Nifti1Image(arr, np.diag([1.0, 2.0, 3.0, 1.0]))
    img.header.set_zooms((1.0, 2.0, 3.0, 0.7))
    nib.save(img, str(tmp_path / "f.nii.gz"))
    vol = read_volume(tmp_path / "f.nii.gz")
    assert vol.axes == "TZYX"
    assert vol.data.shape == (2, 5, 4, 3)
    assert vol.data[1, 4, 3, 2] == arr[2, 3, 4, 1]
    np.testing.assert_allclose(vol.spacing, (0.7, 3.0, 2.0, 1.0), rtol=1e-6)


# --- .npy -----------------------------------------------------------------------------------------


def test_npy_round_trip_and_mmap(tmp_path):
    data = _stack("float64", (2, 3, 8, 8))
    out = write_volume(tmp_path / "a.npy", data)
    vol = read_volume(out)
    assert vol.axes == "TZYX"
    assert vol.data.dtype == np.float64
    np.testing.assert_array_equal(vol.data, data)
    mapped = read_volume(out, mmap=True)
    assert isinstance(mapped.data, np.memmap)
    np.testing.assert_array_equal(mapped.data, data)


# --- DICOM ----------------------------------------------------------------------------------------


def test_dicom_series_is_ordered_by_position_in_hu(tmp_path):
    write_ct_series(tmp_path, n=5)
    (tmp_path / "notes.txt").write_text("not dicom")
    vol = read_volume(tmp_path)
    assert vol.source_format == "dicom"
    assert vol.axes == "ZYX"
    assert vol.data.shape == (5, 6, 7)
    assert vol.data.dtype == np.int16
    np.testing.assert_array_equal(vol.data[:, 1, 1], [1000 + 10 * k - 1024 for k in range(5)])
    assert vol.data[2, 0, 0] == -1024
    np.testing.assert_allclose(vol.spacing, (2.5, 0.7, 0.6))
    # affine: (column, row, slice) -> LPS mm
    np.testing.assert_allclose(vol.affine @ [2, 3, 4, 1], [-50 + 2 * 0.6, -60 + 3 * 0.7, 20.0, 1])
    assert vol.metadata["dicom"]["n_series"] == 1


def test_dicom_file_path_reads_its_series_and_largest_by_default(tmp_path):
    big = write_ct_series(tmp_path, n=5)
    sub = tmp_path / "sub"
    sub.mkdir()
    small = write_ct_series(sub, n=3, slope=0.5, rng_seed=2)
    for f in sub.iterdir():
        f.rename(tmp_path / f"S{f.name}")
    assert read_volume(tmp_path).metadata["dicom"]["SeriesInstanceUID"] == big
    one = read_volume(next(tmp_path.glob("SIM*.dcm")))
    assert one.metadata["dicom"]["SeriesInstanceUID"] == small
    assert one.metadata["dicom"]["n_series"] == 2
    assert one.data.dtype == np.float32
    np.testing.assert_allclose(one.data[:, 1, 1], [1000 * 0.5 + 5 * k - 1024 for k in range(3)])


def test_dicom_to_nifti_converts_lps_to_ras(tmp_path):
    write_ct_series(tmp_path, n=3)
    vol = read_volume(tmp_path)
    out = write_volume(tmp_path / "ct.nii.gz", vol)
    img = nib.load(str(out))
    np.testing.assert_allclose(img.affine @ [0, 0, 0, 1], [50.0, 60.0, 10.0, 1])
    np.testing.assert_array_equal(read_volume(out).data, vol.data)


def test_dicom_without_pydicom_says_how_to_install(tmp_path, monkeypatch):
    (tmp_path / "a.dcm").write_bytes(b"\0" * 128 + b"DICM")
    monkeypatch.setitem(sys.modules, "pydicom", None)
    with pytest.raises(FileFormatError, match=r"pip install \"napari-nsn2n\[dicom\]\""):
        read_volume(tmp_path)


# --- bad inputs -----------------------------------------------------------------------------------


def _bad_tif(tmp_path):
    (p := tmp_path / "bad.tif").write_bytes(RNG.integers(0, 256, 500, dtype=np.uint8).tobytes())
    return p


def _truncated_nii_gz(tmp_path):
    _nifti(tmp_path / "ok.nii.gz", shape=(30, 30, 30))
    raw = (tmp_path / "ok.nii.gz").read_bytes()
    (p := tmp_path / "bad.nii.gz").write_bytes(raw[: len(raw) // 2])
    return p


def _bad_npy(tmp_path):
    (p := tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    return p


def _scalar_npy(tmp_path):
    np.save(p := tmp_path / "scalar.npy", np.float32(3))
    return p


def _bad_nii(tmp_path):
    (p := tmp_path / "bad.nii").write_bytes(gzip.compress(b"x" * 400))
    return p


def _unknown(tmp_path):
    (p := tmp_path / "image.xyz").write_bytes(b"data")
    return p


def _missing(tmp_path):
    return tmp_path / "nope.tif"


def _empty_folder(tmp_path):
    (p := tmp_path / "empty").mkdir()
    return p


@pytest.mark.parametrize(
    "make",
    [
        _bad_tif,
        _truncated_nii_gz,
        _bad_npy,
        _scalar_npy,
        _bad_nii,
        _unknown,
        _missing,
        _empty_folder,
    ],
)
def test_bad_inputs_raise_one_line_file_format_error(tmp_path, make):
    path = make(tmp_path)
    with pytest.raises(FileFormatError) as info:
        read_volume(path)
    message = str(info.value)
    assert "\n" not in message
    assert path.name in message


def test_empty_folder_with_non_dicom_files_is_an_error(tmp_path):
    pytest.importorskip("pydicom")
    (tmp_path / "DICOMDIR.txt").write_text("hello")
    with pytest.raises(FileFormatError, match="no DICOM images"):
        read_volume(tmp_path)


# --- writing --------------------------------------------------------------------------------------


def test_write_refuses_existing_output_and_leaves_it_untouched(tmp_path):
    out = tmp_path / "out.npy"
    out.write_bytes(b"old")
    with pytest.raises(OutputError, match="exists"):
        write_volume(out, np.zeros((2, 8, 8)))
    with pytest.raises(OutputError):
        check_output_path(out, overwrite=False)
    assert out.read_bytes() == b"old"
    write_volume(out, np.ones((2, 8, 8)), overwrite=True)
    np.testing.assert_array_equal(np.load(out), np.ones((2, 8, 8)))


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    out = tmp_path / "out.tif"
    out.write_bytes(b"old")

    def broken(path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", broken)
    with pytest.raises(OutputError, match="disk full"):
        write_volume(out, np.zeros((2, 8, 8), np.uint16), overwrite=True)
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


def test_write_to_missing_folder_or_unknown_suffix(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        write_volume(tmp_path / "no" / "out.tif", np.zeros((2, 8, 8)))
    with pytest.raises(FileFormatError, match="suffix"):
        write_volume(tmp_path / "out.png", np.zeros((2, 8, 8)))
    assert list(tmp_path.iterdir()) == []


def test_write_to_unwritable_location(tmp_path):
    if os.geteuid() == 0:  # root ignores permissions: a parent that is a file instead
        (blocker := tmp_path / "file").write_text("x")
        target = blocker / "out.npy"
    else:
        (folder := tmp_path / "ro").mkdir()
        folder.chmod(0o500)
        target = folder / "out.npy"
    try:
        with pytest.raises(OutputError):
            check_output_path(target, overwrite=True)
        with pytest.raises(OutputError):
            write_volume(target, np.zeros((2, 8, 8)), overwrite=True)
        assert not target.exists()
    finally:
        target.parent.chmod(0o700)


def test_supported_paths_and_volume_checks(tmp_path):
    assert ".nii.gz" in read_suffixes()
    for name in ("a.tif", "b.TIFF", "c.nii.gz", "d.nii", "e.npy", "f.dcm"):
        assert is_supported_path(tmp_path / name)
    assert not is_supported_path(tmp_path / "g.png")
    assert not is_supported_path(tmp_path)  # a folder without DICOM files
    (tmp_path / "x.dcm").write_bytes(b"")
    assert is_supported_path(tmp_path)
    with pytest.raises(ValueError):
        Volume(np.zeros((2, 3, 4)), "YX")
    vol = Volume(np.zeros((2, 3, 4)), "ZYX", (1, 2, 3), metadata={"unit": "mm"})
    new = vol.with_data(np.ones((2, 3, 4), np.float32))
    assert new.spacing == (1.0, 2.0, 3.0)
    assert new.metadata == {"unit": "mm"}
    assert new.data.dtype == np.float32
