"""A small CT DICOM series written with pydicom, shared by the IO and napari reader tests."""

from __future__ import annotations

import numpy as np
import pytest


def write_ct_series(folder, n=5, series_uid=None, slope=1.0, rng_seed=1, spacing=2.5):
    """``n`` 6x7 slices at ``spacing`` mm along +z, file names and InstanceNumbers unrelated to
    position; stored value 1000 + 10 k (HU = stored - 1024), pixel [0, 0] = 0."""
    pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    rng = np.random.default_rng(rng_seed)
    series_uid = series_uid or generate_uid()
    names = rng.permutation(n)  # file names unrelated to position
    instances = rng.permutation(n)[::-1] + 1  # instance numbers unrelated to position
    for k in range(n):  # k = order along the slice normal (+z)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"IM{names[k]:04d}.dcm"
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID = series_uid
        ds.StudyInstanceUID = "1.2.3.4"
        ds.Modality = "CT"
        ds.InstanceNumber = int(instances[k])
        ds.Rows, ds.Columns = 6, 7
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelSpacing = [0.7, 0.6]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-50.0, -60.0, 10.0 + spacing * k]
        ds.SliceThickness = spacing
        ds.RescaleSlope = slope
        ds.RescaleIntercept = -1024
        pixels = np.full((6, 7), 1000 + 10 * k, dtype=np.uint16)
        pixels[0, 0] = 0
        ds.PixelData = pixels.tobytes()
        ds.save_as(path, enforce_file_format=True)
    return series_uid
