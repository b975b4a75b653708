"""The npe2 contributions through a real napari viewer (Xvfb): reader, writer, sample data, the
Layers > Filter menu entry and the preferences."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import tifffile

from dicom_series import write_ct_series
from napari_nsn2n.errors import FileFormatError
from napari_nsn2n.io import Volume, read_volume, write_volume
from widget_support import isolated_preferences, open_widget

PLUGIN = "napari-nsn2n"
SPACING = (2.5, 0.3, 0.125)

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def preferences(tmp_path, monkeypatch):
    yield from isolated_preferences(tmp_path, monkeypatch)


def _open_stack(viewer, path):
    """Open ``path`` the way the dock widget's "Open…" does (this plugin's reader)."""
    return open_widget(viewer).input_panel.open_stack(path)


# --- manifest -------------------------------------------------------------------------------------


def test_manifest_validates_and_contributions_import():
    from npe2 import PluginManifest

    manifest = PluginManifest.from_distribution(PLUGIN)
    manifest.validate_imports()  # every python_name must import (raises otherwise)
    contrib = manifest.contributions
    commands = {c.id for c in contrib.commands}
    assert [r.command for r in contrib.readers] == [f"{PLUGIN}.get_reader"]
    assert [w.command for w in contrib.writers] == [f"{PLUGIN}.write_image"]
    assert {s.key for s in contrib.sample_data} == {"ct", "mri", "microscopy"}
    assert [w.display_name for w in contrib.widgets] == ["NS-N2N denoising"]
    for item in (*contrib.readers, *contrib.writers, *contrib.sample_data, *contrib.widgets):
        assert item.command in commands
    # no pattern that napari's own reader also claims for every TIFF / .npy (reader.py)
    patterns = contrib.readers[0].filename_patterns
    assert not {"*.tif", "*.tiff", "*.npy"} & set(patterns)
    assert [m.command for m in contrib.menus["napari/layers/filter"]] == [
        f"{PLUGIN}.denoise_widget"
    ]
    assert set(contrib.configurations) == {"training", "running", "masks"}


def test_the_widget_is_in_the_layers_filter_menu(make_napari_viewer):
    from napari._app_model import get_app_model

    make_napari_viewer()
    items = get_app_model().menus.get_menu("napari/layers/filter")
    assert f"{PLUGIN}.denoise_widget" in [
        getattr(i, "command", None) and i.command.id for i in items
    ]


def test_the_settings_are_in_napari_preferences(make_napari_viewer, preferences):
    from napari.settings import get_plugin_settings

    viewer = make_napari_viewer()
    widget = open_widget(viewer)
    stored = get_plugin_settings(PLUGIN)
    assert stored.training.epochs == -1  # untouched: the preset's, whatever the machine
    widget.settings_panel.epochs.setValue(widget.settings_panel.defaults.epochs + 5)
    widget.save_settings()
    assert stored.training.epochs == widget.settings_panel.defaults.epochs + 5
    assert (preferences / f"{PLUGIN}.yaml").is_file()
    stored.running.preview_every = 7  # as in napari's Preferences dialog
    assert widget.settings_panel.preview_every.value() == 7


def test_plugin_manager_knows_the_plugin():
    from npe2 import PluginManager

    pm = PluginManager.instance()
    pm.discover()
    assert pm.get_manifest(PLUGIN).name == PLUGIN
    readers = [r.command for r in pm.iter_compatible_readers(["x.nii.gz"])]
    assert f"{PLUGIN}.get_reader" in readers
    writers = [w.command for w in pm.iter_compatible_writers(["image"])]
    assert f"{PLUGIN}.write_image" in writers


# --- reader ---------------------------------------------------------------------------------------


def test_get_reader_rejects_unsupported_paths(tmp_path):
    from napari_nsn2n._napari.reader import get_reader

    (tmp_path / "notes.txt").write_text("x")
    assert get_reader(str(tmp_path / "notes.txt")) is None
    assert get_reader(str(tmp_path)) is None  # a folder without DICOM files
    assert get_reader([str(tmp_path / "a.tif"), str(tmp_path / "notes.txt")]) is None
    assert callable(get_reader(str(tmp_path / "a.tif")))


def test_get_reader_declines_2d_and_rgb_files(tmp_path):
    from napari_nsn2n._napari.reader import get_reader

    tifffile.imwrite(tmp_path / "photo.tif", np.zeros((40, 50), np.uint8))
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((40, 50, 3), np.uint8), photometric="rgb")
    tifffile.imwrite(
        tmp_path / "stack.tif", np.zeros((5, 40, 50), np.uint8), photometric="minisblack"
    )
    np.save(tmp_path / "plane.npy", np.zeros((40, 50), np.float32))
    nib.save(nib.Nifti1Image(np.zeros((40, 50), np.int16), np.eye(4)), str(tmp_path / "s.nii"))
    for name in ("photo.tif", "rgb.tif", "plane.npy", "s.nii"):
        assert get_reader(str(tmp_path / name)) is None, name
    assert callable(get_reader(str(tmp_path / "stack.tif")))


@pytest.mark.parametrize("image", ["photo", "rgb"])
def test_file_open_of_a_plain_tiff_asks_no_reader_choice(make_napari_viewer, tmp_path, image):
    """File > Open (plugin=None) of a 2D or RGB TIFF goes to napari's reader with no prompt."""
    shape = (40, 50) if image == "photo" else (40, 50, 3)
    path = tmp_path / f"{image}.tif"
    tifffile.imwrite(path, np.zeros(shape, np.uint8))
    viewer = make_napari_viewer()
    from napari.plugins import _npe2

    assert PLUGIN not in _npe2.get_readers(str(path))  # not among the choices offered
    (layer,) = viewer.open(str(path), plugin=None)  # raises MultipleReaderError if ambiguous
    assert layer.data.shape[:2] == (40, 50)


def test_imagej_tiff_opened_by_napari_gets_its_spacing_in_the_widget(make_napari_viewer, tmp_path):
    data = np.arange(6 * 20 * 16, dtype=np.uint16).reshape(6, 20, 16)
    path = write_volume(tmp_path / "stack.tif", Volume(data, "ZYX", SPACING, {"unit": "µm"}))
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(path))  # napari's own reader: no spacing
    np.testing.assert_allclose(layer.scale, 1.0)
    widget = open_widget(viewer)
    source = widget.input_panel
    assert source.spacing_button.isVisibleTo(widget)
    source.spacing_button.click()
    np.testing.assert_allclose(layer.scale, SPACING, rtol=1e-6)
    assert source.scale_label.text().startswith("2.5 × 0.3 × 0.125")
    assert not source.spacing_button.isVisibleTo(widget)


def test_reader_raises_file_format_error_for_a_corrupt_file(tmp_path):
    from napari_nsn2n._napari.reader import get_reader

    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff at all")
    with pytest.raises(FileFormatError, match=r"bad\.tif"):
        get_reader(str(bad))(str(bad))


def test_open_tiff_gives_data_and_scale(make_napari_viewer, tmp_path):
    data = np.random.default_rng(0).integers(0, 4000, (6, 20, 16), dtype=np.uint16)
    path = write_volume(tmp_path / "stack.tif", Volume(data, "ZYX", SPACING, {"unit": "µm"}))
    viewer = make_napari_viewer()
    layers = _open_stack(viewer, path)
    assert len(layers) == 1
    layer = layers[0]
    assert layer.name == "stack"
    np.testing.assert_array_equal(layer.data, data)
    assert layer.data.dtype == np.uint16
    np.testing.assert_allclose(layer.scale, SPACING, rtol=1e-6)
    np.testing.assert_allclose(layer.affine.affine_matrix, np.eye(4))
    stored = layer.metadata["nsn2n_volume"]
    assert stored["axes"] == "ZYX" and stored["source_format"] == "tiff"
    assert stored["path"] == str(path)
    lo, hi = layer.contrast_limits
    assert 0 <= lo < hi <= 4000


def _nifti(path, affine):
    arr = np.arange(6 * 5 * 4, dtype=np.int16).reshape(6, 5, 4)  # (x, y, z)
    arr[1, 2, 3] = 999
    img = nib.Nifti1Image(arr, affine)
    img.header.set_xyzt_units("mm")
    nib.save(img, str(path))
    return arr


OBLIQUE = np.array(
    [[0.0, -0.9, 0.0, 10.0], [-0.8, 0.0, 0.0, -20.0], [0.0, 0.0, 2.5, 30.0], [0, 0, 0, 1]]
)


def test_open_nifti_gives_zyx_data_scale_and_keeps_the_file_affine(make_napari_viewer, tmp_path):
    path = tmp_path / "head.nii.gz"
    arr = _nifti(path, OBLIQUE)
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(path), plugin=PLUGIN)
    assert layer.name == "head"
    assert layer.data.shape == (4, 5, 6)
    np.testing.assert_array_equal(layer.data, arr.T)
    assert layer.data[3, 2, 1] == 999
    # voxel sizes (z, y, x) from the affine's columns; napari's affine does not repeat them
    np.testing.assert_allclose(layer.scale, (2.5, 0.9, 0.8))
    np.testing.assert_allclose(layer.affine.affine_matrix, np.eye(4))
    np.testing.assert_allclose(layer.metadata["nsn2n_volume"]["affine"], OBLIQUE)
    assert "nifti_header" in layer.metadata["nsn2n_volume"]["metadata"]


def test_open_dicom_folder_and_single_file(make_napari_viewer, tmp_path):
    series = tmp_path / "series"
    series.mkdir()
    write_ct_series(series, n=4, spacing=3.0)
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(series), plugin=PLUGIN)
    assert layer.name == "series"
    assert layer.data.shape == (4, 6, 7) and layer.data.dtype == np.int16
    np.testing.assert_array_equal(layer.data[:, 1, 1], [1000 + 10 * k - 1024 for k in range(4)])
    np.testing.assert_allclose(layer.scale, (3.0, 0.7, 0.6))
    assert layer.metadata["nsn2n_volume"]["source_format"] == "dicom"
    # one .dcm file opens its whole series
    (single,) = viewer.open(str(series / "IM0000.dcm"), plugin=PLUGIN)
    np.testing.assert_array_equal(single.data, layer.data)
    # files of one series handed over together (stack=True): one layer, not one per file
    files = sorted(str(p) for p in series.glob("*.dcm"))
    layers = viewer.open(files, plugin=PLUGIN, stack=True)
    assert len(layers) == 1
    np.testing.assert_array_equal(layers[0].data, layer.data)


# --- writer ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["uint16", "float32"])
def test_tiff_layer_round_trip_keeps_data_dtype_and_scale(make_napari_viewer, tmp_path, dtype):
    rng = np.random.default_rng(1)
    data = (rng.random((5, 12, 10)) * 1000).astype(dtype)
    viewer = make_napari_viewer()
    layer = viewer.add_image(data, scale=SPACING, name="plain")  # no nsn2n metadata
    out = tmp_path / "plain.tif"
    written = layer.save(str(out), plugin=PLUGIN)
    assert written == [str(out)]
    vol = read_volume(out)
    assert vol.data.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(vol.data, data)
    np.testing.assert_allclose(vol.spacing, SPACING, rtol=1e-6)
    (again,) = _open_stack(viewer, out)
    np.testing.assert_allclose(again.scale, SPACING, rtol=1e-6)
    np.testing.assert_array_equal(again.data, data)


def test_nifti_open_save_round_trip_keeps_affine_header_and_dtype(make_napari_viewer, tmp_path):
    src = tmp_path / "in.nii.gz"
    arr = _nifti(src, OBLIQUE)
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(src), plugin=PLUGIN)
    out = tmp_path / "out.nii.gz"
    viewer.layers.selection = {layer}
    written = viewer.layers.save(str(out), selected=True, plugin=PLUGIN)
    assert written == [str(out)]
    img = nib.load(str(out))
    np.testing.assert_allclose(img.affine, OBLIQUE, atol=1e-6)
    assert img.get_data_dtype() == np.int16
    np.testing.assert_array_equal(np.asarray(img.dataobj), arr)
    assert img.header.get_xyzt_units()[0] == "mm"
    # overwrite is allowed (napari's dialog asks); a derived float layer keeps the affine
    denoised = viewer.add_image(layer.data.astype(np.float32) * 0.5, scale=layer.scale)
    denoised.metadata.update(layer.metadata)
    assert denoised.save(str(out), plugin=PLUGIN) == [str(out)]
    img = nib.load(str(out))
    np.testing.assert_allclose(img.affine, OBLIQUE, atol=1e-6)
    assert img.get_data_dtype() == np.float32
    np.testing.assert_allclose(np.asarray(img.dataobj), arr * 0.5)


def test_dicom_layer_saved_as_nifti_gets_ras_affine(make_napari_viewer, tmp_path):
    series = tmp_path / "series"
    series.mkdir()
    write_ct_series(series, n=4, spacing=3.0)
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(series), plugin=PLUGIN)
    out = tmp_path / "ct.nii"
    layer.save(str(out), plugin=PLUGIN)
    img = nib.load(str(out))
    np.testing.assert_allclose(img.affine @ [0, 0, 0, 1], [50.0, 60.0, 10.0, 1])  # LPS -> RAS
    np.testing.assert_allclose(img.header.get_zooms(), (0.6, 0.7, 3.0))
    np.testing.assert_array_equal(read_volume(out).data, layer.data)


def test_changed_layer_scale_wins_over_the_stored_spacing(make_napari_viewer, tmp_path):
    data = np.arange(4 * 8 * 9, dtype=np.float32).reshape(4, 8, 9)
    path = write_volume(tmp_path / "a.tif", Volume(data, "ZYX", SPACING))
    viewer = make_napari_viewer()
    (layer,) = _open_stack(viewer, path)
    layer.scale = (4.0, 0.5, 0.5)
    out = tmp_path / "b.nii.gz"
    layer.save(str(out), plugin=PLUGIN)
    np.testing.assert_allclose(read_volume(out).spacing, (4.0, 0.5, 0.5))
    np.testing.assert_allclose(nib.load(str(out)).header.get_zooms(), (0.5, 0.5, 4.0))


def test_writer_refuses_other_suffixes(tmp_path):
    from napari_nsn2n._napari.writer import write_image

    with pytest.raises(FileFormatError, match="NS-N2N writer"):
        write_image(str(tmp_path / "x.npy"), np.zeros((2, 8, 8)), {})
    assert not (tmp_path / "x.npy").exists()


def test_writer_without_metadata_uses_scale_and_imagej_tiff(tmp_path):
    from napari_nsn2n._napari.writer import write_image

    data = np.ones((3, 8, 8), np.uint8)
    out = tmp_path / "x.tiff"
    assert write_image(str(out), data, {"scale": np.array(SPACING)}) == [str(out)]
    with tifffile.TiffFile(out) as tif:
        assert tif.is_imagej
    np.testing.assert_allclose(read_volume(out).spacing, SPACING, rtol=1e-6)


# --- sample data ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["ct", "mri", "microscopy"])
def test_samples_open_in_the_viewer(make_napari_viewer, key):
    viewer = make_napari_viewer()
    layers = viewer.open_sample(PLUGIN, key)
    assert len(layers) == 1
    layer = layers[0]
    assert layer.data.ndim == 3 and min(layer.data.shape) >= 32
    assert len(layer.scale) == 3 and not np.allclose(layer.scale, 1.0)
    assert layer.scale[0] > layer.scale[1]  # slice step larger than the pixel size
    meta = layer.metadata
    assert "licence" in meta and "synthetic" in meta["source"].lower()
    assert len(meta["description"]) > 50
    clean = meta["nsn2n_clean"]
    assert clean.shape == layer.data.shape
    assert 0 < meta["nsn2n_sample"]["suggested_threshold"] < 0.2
    noise = layer.data.astype(np.float64) - clean
    assert noise.std() > 0
    lo, hi = layer.contrast_limits
    assert lo < hi
    if key == "ct":
        assert (lo, hi) == (-160.0, 240.0)
        assert layer.data.dtype == np.float32
    if key == "microscopy":
        assert layer.data.dtype == np.uint16
