"""Readers never hand back a volume with a missing slice or a guessed axis: damaged DICOM series,
truncated TIFFs and several series are refused or reported, on real files."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from dicom_series import write_ct_series
from napari_nsn2n.errors import FileFormatError
from napari_nsn2n.io import read_volume


def _by_position(folder):
    """The series' files in slice order (by ImagePositionPatient z)."""
    pydicom = pytest.importorskip("pydicom")
    files = sorted(folder.glob("*.dcm"))
    return sorted(files, key=lambda f: float(pydicom.dcmread(f).ImagePositionPatient[2]))


def _edit(path, **changes):
    import pydicom

    ds = pydicom.dcmread(path)
    for key, value in changes.items():
        setattr(ds, key, value)
    ds.save_as(path)


def test_a_corrupt_file_in_a_series_is_refused_not_skipped(tmp_path):
    write_ct_series(tmp_path, n=5)
    broken = _by_position(tmp_path)[2]
    raw = broken.read_bytes()
    broken.write_bytes(raw[:200])  # the preamble and a few tags: meant to be DICOM
    with pytest.raises(FileFormatError, match=f"{broken.name}.*--allow-gaps") as info:
        read_volume(tmp_path)
    assert "\n" not in str(info.value)
    vol = read_volume(tmp_path, allow_gaps=True)  # explicitly: read the rest, report the gap
    assert vol.data.shape == (4, 6, 7)
    notes = " ".join(vol.notes)
    assert broken.name in notes and "gap: 5 mm between slices 1 and 2" in notes


@pytest.mark.parametrize("fraction", [0.1, 0.22, 0.5])
def test_an_end_slice_cut_short_is_refused(tmp_path, fraction):
    """Losing the first or last slice leaves even steps behind: the damaged file itself must
    be noticed (found by tests/test_fuzz.py: a file cut inside its SOP class UID)."""
    write_ct_series(tmp_path, n=4)
    first = _by_position(tmp_path)[0]
    raw = first.read_bytes()
    first.write_bytes(raw[: int(fraction * len(raw))])
    with pytest.raises(FileFormatError, match=f"{first.name}"):
        read_volume(tmp_path)


def test_truncated_pixel_data_is_refused(tmp_path):
    write_ct_series(tmp_path, n=4)
    victim = _by_position(tmp_path)[1]
    victim.write_bytes(victim.read_bytes()[:-30])
    with pytest.raises(FileFormatError, match=f"pixel data of {victim.name}"):
        read_volume(tmp_path)


def test_a_missing_slice_is_a_gap_not_a_closed_up_volume(tmp_path):
    write_ct_series(tmp_path, n=5)
    _by_position(tmp_path)[2].unlink()
    with pytest.raises(FileFormatError, match="not evenly spaced: 5 mm between slices 1 and 2"):
        read_volume(tmp_path)
    vol = read_volume(tmp_path, allow_gaps=True)
    assert vol.data.shape[0] == 4 and any("gap" in n for n in vol.notes)
    np.testing.assert_allclose(vol.spacing[0], 2.5)  # the regular step, the gap said aside


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ImageOrientationPatient": [0, 1, 0, 0, 0, -1]}, "different orientations"),
        ({"PixelSpacing": [0.9, 0.9]}, "different pixel spacings"),
        ({"ImagePositionPatient": [-50.0, -60.0, 10.0]}, "same position"),
    ],
)
def test_inconsistent_slices_are_refused(tmp_path, changes, message):
    write_ct_series(tmp_path, n=4)
    _edit(_by_position(tmp_path)[3], **changes)
    with pytest.raises(FileFormatError, match=message):
        read_volume(tmp_path)


def test_slices_of_another_size_are_refused(tmp_path):
    write_ct_series(tmp_path, n=4)
    _edit(
        _by_position(tmp_path)[1],
        Rows=3,
        PixelData=np.zeros((3, 7), np.uint16).tobytes(),
    )
    with pytest.raises(FileFormatError, match="different sizes"):
        read_volume(tmp_path)


def test_a_folder_of_several_series_says_which_it_read_and_how_to_pick(tmp_path):
    big = write_ct_series(tmp_path, n=5)
    sub = tmp_path / "sub"
    sub.mkdir()
    small = write_ct_series(sub, n=3, rng_seed=2)
    for f in sub.iterdir():
        _edit(f, SeriesNumber=7)
        f.rename(tmp_path / f"S{f.name}")
    vol = read_volume(tmp_path)
    assert vol.metadata["dicom"]["SeriesInstanceUID"] == big
    (note,) = vol.notes
    assert f"read {big}" in note and small in note and "--series" in note
    by_uid, by_number = read_volume(tmp_path, series=small), read_volume(tmp_path, series="7")
    assert by_uid.data.shape == by_number.data.shape == (3, 6, 7)
    with pytest.raises(FileFormatError, match="no series '9'"):
        read_volume(tmp_path, series=9)


# --- TIFF -----------------------------------------------------------------------------------------

STACK = np.random.default_rng(0).random((6, 32, 32)).astype(np.float32)


def _page_by_page(path):
    with tifffile.TiffWriter(path) as tif:
        for plane in STACK:
            tif.write(plane, contiguous=False, metadata=None)


WRITERS = {
    "pages": _page_by_page,
    "zlib": lambda p: tifffile.imwrite(p, STACK, compression="zlib"),
    "imagej": lambda p: tifffile.imwrite(p, STACK, imagej=True, metadata={"axes": "ZYX"}),
    "imagej_zlib": lambda p: tifffile.imwrite(
        p, STACK, imagej=True, compression="zlib", metadata={"axes": "ZYX"}
    ),
    "ome_zlib": lambda p: tifffile.imwrite(
        p, STACK, ome=True, compression="zlib", metadata={"axes": "ZYX"}
    ),
}


@pytest.mark.parametrize("kind", WRITERS)
@pytest.mark.parametrize("mmap", [False, True])
def test_a_tiff_truncated_at_a_page_boundary_is_refused(tmp_path, kind, mmap):
    whole = tmp_path / "whole.tif"
    WRITERS[kind](whole)
    with tifffile.TiffFile(whole) as tif:
        fifth = tif.pages[4].offset  # page 5's header: the file stops after 4 whole pages
    cut = tmp_path / "cut.tif"
    cut.write_bytes(whole.read_bytes()[:fifth])
    np.testing.assert_array_equal(read_volume(whole).data, STACK)
    with pytest.raises(FileFormatError, match=r"cut\.tif: truncated") as info:
        read_volume(cut, mmap=mmap)  # not 4 of the 6 slices, not a "2D image"
    assert "\n" not in str(info.value)


def test_a_multi_series_ome_tiff_says_so_and_reads_the_series_asked_for(tmp_path):
    path = tmp_path / "two.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(STACK, metadata={"axes": "ZYX", "PhysicalSizeZ": 2.0})
        tif.write(STACK[:3, :16, :16], metadata={"axes": "ZYX", "PhysicalSizeZ": 5.0})
    first = read_volume(path)
    assert first.data.shape == (6, 32, 32) and first.spacing[0] == 2.0
    assert "holds 2 series" in first.notes[0] and "--series" in first.notes[0]
    second = read_volume(path, series=1)
    assert second.data.shape == (3, 16, 16) and second.spacing[0] == 5.0
    with pytest.raises(FileFormatError, match="no series 2"):
        read_volume(path, series=2)


def test_axes_without_metadata_are_the_same_default_for_every_format(tmp_path):
    four = np.random.default_rng(1).random((2, 3, 32, 32)).astype(np.float32)
    tifffile.imwrite(tmp_path / "four.tif", four)
    np.save(tmp_path / "four.npy", four)
    from_tiff, from_npy = read_volume(tmp_path / "four.tif"), read_volume(tmp_path / "four.npy")
    assert from_tiff.axes == from_npy.axes == "TZYX"  # the plain TIFF read as ZCYX before
    assert not from_tiff.axes_known and not from_npy.axes_known
    tifffile.imwrite(tmp_path / "named.tif", four, imagej=True, metadata={"axes": "ZCYX"})
    named = read_volume(tmp_path / "named.tif")
    assert named.axes == "ZCYX" and named.axes_known


def test_unnamed_axes_reach_the_engine_as_unnamed(tmp_path):
    """Every per-volume interface (nsn2n denoise, a cohort's worker) runs through volume_events:
    a letter axis on a file without axis names is refused there, not looked up in the default."""
    from napari_nsn2n.errors import InvalidStackError
    from napari_nsn2n.pipeline.volume import volume_events

    four = np.random.default_rng(1).random((2, 3, 32, 32)).astype(np.float32)
    np.save(tmp_path / "four.npy", four)
    volume = read_volume(tmp_path / "four.npy")
    assert volume.axes == "TZYX" and volume.named_axes is None  # "z" would be axis 1 there
    options = dict(threshold=0.01, device="cpu", tta=False, cast_output=False, rician=False)
    with pytest.raises(InvalidStackError, match="its axes have no names"):
        next(volume_events(volume, None, config=None, axis="z", stabilize="auto", **options))


def test_reader_options_only_where_the_format_has_them(tmp_path):
    np.save(tmp_path / "a.npy", STACK)
    with pytest.raises(FileFormatError, match="series applies to dicom, tiff files, not npy"):
        read_volume(tmp_path / "a.npy", series=1)
    with pytest.raises(FileFormatError, match="allow_gaps applies to dicom"):
        read_volume(tmp_path / "a.npy", allow_gaps=True)
