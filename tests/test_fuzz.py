"""A fuzz pass over the readers (hypothesis): truncated and mutated TIFF, NIfTI, .npy and DICOM
files either read correctly or raise the project's own FileFormatError, never another exception.

A truncated file (a prefix of a valid one) that reads must give exactly the original volume:
losing slices quietly is the failure this guards against. For byte-level mutations the volume
read must be consistent (its data loads, its axes fit). ``NSN2N_FUZZ_EXAMPLES`` sets the cases
per target (default 40; docs/guarantees.md records a larger pass).
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import tifffile

from napari_nsn2n.errors import FileFormatError
from napari_nsn2n.io import read_volume

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXAMPLES = int(os.environ.get("NSN2N_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CASES: Counter = Counter()  # cases run per target, printed at the end of the module
RNG = np.random.default_rng(7)
STACK = RNG.integers(0, 4000, (4, 16, 12), dtype=np.uint16)


def _pages(path: Path) -> None:
    with tifffile.TiffWriter(path) as tif:
        for plane in STACK:
            tif.write(plane, contiguous=False, metadata=None)


def _nifti(path: Path) -> None:
    nib.save(nib.Nifti1Image(STACK.T.astype(np.int16), np.diag([0.5, 0.6, 2.0, 1.0])), path)


WRITERS = {
    "plain.tif": lambda p: tifffile.imwrite(p, STACK),
    "pages.tif": _pages,
    "imagej.tif": lambda p: tifffile.imwrite(p, STACK, imagej=True, metadata={"axes": "ZYX"}),
    "zlib.ome.tif": lambda p: tifffile.imwrite(
        p, STACK, ome=True, compression="zlib", metadata={"axes": "ZYX", "PhysicalSizeZ": 2.0}
    ),
    "image.nii": _nifti,
    "image.nii.gz": _nifti,
    "array.npy": lambda p: np.save(p, STACK),
}


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """Valid files of every kind, and what each reads as."""
    folder = tmp_path_factory.mktemp("seeds")
    originals = {}
    for name, write in WRITERS.items():
        write(folder / name)
        originals[name] = ((folder / name).read_bytes(), read_volume(folder / name).data.copy())
    yield originals
    print("\nfuzz cases per target:", dict(CASES), "total", sum(CASES.values()))


def _read(path: Path, mmap: bool):
    """The volume, or None for the project's own refusal; any other exception fails the test."""
    try:
        volume = read_volume(path, mmap=mmap)
    except FileFormatError as exc:
        assert "\n" not in str(exc)
        return None
    data = np.asarray(volume.data)  # a memmap must load too
    assert len(volume.axes) == data.ndim
    return data


@FUZZ
@given(name=st.sampled_from(sorted(WRITERS)), cut=st.floats(0, 1), mmap=st.booleans())
def test_truncated_files_read_whole_or_are_refused(tmp_path, seeds, name, cut, mmap):
    raw, original = seeds[name]
    path = tmp_path / f"t_{name}"
    path.write_bytes(raw[: int(cut * (len(raw) - 1))])
    CASES[f"truncated {name}"] += 1
    data = _read(path, mmap)
    if data is not None:
        np.testing.assert_array_equal(data, original)


@FUZZ
@given(
    name=st.sampled_from(sorted(WRITERS)),
    edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=8),
    mode=st.sampled_from(["replace", "insert", "delete"]),
    mmap=st.booleans(),
)
@example(name="image.nii", edits=[(0.06551071629294027, 4)], mode="replace", mmap=False)
def test_mutated_files_read_consistently_or_are_refused(tmp_path, seeds, name, edits, mode, mmap):
    raw = bytearray(seeds[name][0])
    for where, value in edits:
        at = int(where * (len(raw) - 1))
        if mode == "replace":
            raw[at] = value
        elif mode == "insert":
            raw.insert(at, value)
        else:
            del raw[at]
    path = tmp_path / f"m_{name}"
    path.write_bytes(bytes(raw))
    CASES[f"mutated {name}"] += 1
    _read(path, mmap)


@pytest.fixture(scope="module")
def dicom_series(tmp_path_factory):
    pytest.importorskip("pydicom")
    from dicom_series import write_ct_series

    folder = tmp_path_factory.mktemp("dicom")
    write_ct_series(folder, n=4)
    return folder, read_volume(folder).data.copy()


@FUZZ
@example(member=0, cut=0.21875, flips=[])  # cut inside its SOP class UID: once skipped silently
@example(member=0, cut=0.0, flips=[(0.580078125, 86)])  # a broken value length: once a traceback
@example(member=0, cut=0.0, flips=[(0.580078125, 0)])  # an unknown value type: once a traceback
@given(
    member=st.integers(0, 3),
    cut=st.floats(0, 1),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=4),
)
def test_damaged_dicom_members_read_whole_or_are_refused(
    tmp_path, dicom_series, member, cut, flips
):
    folder, original = dicom_series
    copy = tmp_path / "series"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(folder, copy)
    victim = sorted(copy.iterdir())[member]
    raw = bytearray(victim.read_bytes())
    for where, value in flips:
        raw[int(where * (len(raw) - 1))] = value
    if not flips:
        raw = raw[: int(cut * (len(raw) - 1))]
    victim.write_bytes(bytes(raw))
    CASES["dicom member"] += 1
    data = _read(copy, mmap=False)
    if data is not None and not flips:
        np.testing.assert_array_equal(data, original)
