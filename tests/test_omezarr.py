"""OME-Zarr: lazy reading (NGFF 0.4 / zarr v2 and 0.5 / zarr v3), pyramids, scale and units,
atomic folder outputs, the CLI and the napari reader / writer."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ome_zarr")
zarr = pytest.importorskip("zarr")

from napari_nsn2n.cli.main import main  # noqa: E402
from napari_nsn2n.errors import FileFormatError, OutputError  # noqa: E402
from napari_nsn2n.io import Volume, is_supported_path, read_volume, write_volume  # noqa: E402
from napari_nsn2n.io.omezarr import read_pyramid, write_omezarr  # noqa: E402
from napari_nsn2n.stack import PreparedStack  # noqa: E402


def _stack(shape=(6, 130, 150), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_library_files_read_lazily_with_scale_and_units(tmp_path, version):
    """Images written by ome-zarr's own writer (v0.4 on zarr v2, v0.5 on zarr v3) read back
    with their scale and unit, level 0 as a lazy zarr array."""
    from ome_zarr.format import format_from_version
    from ome_zarr.writer import write_image

    data = _stack((5, 128, 96))
    path = tmp_path / "lib.ome.zarr"
    write_image(
        data,
        str(path),
        fmt=format_from_version(version),
        axes=["z", "y", "x"],
        scale={"z": 2.0, "y": 0.25, "x": 0.5},
        axes_units={"z": "micrometer", "y": "micrometer", "x": "micrometer"},
        scale_factors=(2,),
    )
    assert is_supported_path(path)
    volume = read_volume(path)
    assert not isinstance(volume.data, np.ndarray)  # lazy: nothing loaded yet
    assert volume.axes == "ZYX"
    assert volume.spacing == (2.0, 0.25, 0.5)
    assert volume.metadata["unit"] == "µm"
    assert volume.metadata["ome_zarr"]["version"] == version
    assert volume.metadata["ome_zarr"]["shapes"] == [[5, 128, 96], [5, 64, 48]]
    np.testing.assert_array_equal(volume.data[2], data[2])
    prepared = PreparedStack.from_array(volume.data, in_memory=False)
    np.testing.assert_allclose(prepared.slices[3] * prepared.normalizer.scale, data[3] - data.min())


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_write_read_round_trip_keeps_data_scale_unit_and_makes_a_pyramid(tmp_path, version):
    data = _stack()
    path = tmp_path / "out.ome.zarr"
    write_omezarr(
        path, data, Volume(data, "ZYX", (3.0, 0.5, 0.4), metadata={"unit": "mm"}), version
    )
    volume = read_volume(path)
    np.testing.assert_array_equal(volume.data[:], data)
    assert volume.spacing == (3.0, 0.5, 0.4)
    assert volume.metadata["unit"] == "mm"
    levels = read_pyramid(path)
    assert [a.shape for a in levels] == [(6, 130, 150), (6, 65, 75)]
    # level 1 is the 2 x 2 in-plane mean of level 0; its scale doubles in y and x only
    expected = data[:, :130, :150].reshape(6, 65, 2, 75, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(levels[1][:], expected, rtol=1e-6)
    assert read_volume(path).metadata["ome_zarr"]["version"] == version
    from napari_nsn2n.io.omezarr import read_omezarr

    assert read_omezarr(path, level=1).spacing == (3.0, 1.0, 0.8)


def test_ngff_metadata_is_what_ome_zarr_reads(tmp_path):
    """Another reader (ome-zarr's own) sees the pyramid, the axes with units and the scales."""
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    path = tmp_path / "m.ome.zarr"
    data = _stack((4, 256, 256))
    write_volume(path, Volume(data, "ZYX", (2.0, 0.1, 0.1), metadata={"unit": "µm"}))
    node = next(iter(Reader(parse_url(str(path)))()))
    assert [tuple(d.shape) for d in node.data] == [(4, 256, 256), (4, 128, 128), (4, 64, 64)]
    assert [a["unit"] for a in node.metadata["axes"]] == ["micrometer"] * 3
    scales = [t[0]["scale"] for t in node.metadata["coordinateTransformations"]]
    assert scales == [[2.0, 0.1, 0.1], [2.0, 0.2, 0.2], [2.0, 0.4, 0.4]]


def test_a_failed_write_leaves_nothing_at_the_output_path(tmp_path):
    class Failing:
        """An input that breaks after its first slices (a read error mid-way)."""

        shape, dtype, ndim = (20, 64, 64), np.dtype(np.float32), 3

        def __getitem__(self, key):
            if key.start >= 8:
                raise OSError("disk read error")
            return np.zeros((8, 64, 64), np.float32)

    path = tmp_path / "x.ome.zarr"
    with pytest.raises(OutputError, match="disk read error"):
        write_volume(path, Failing(), Volume(np.zeros((1, 1, 1)), "ZYX"))
    assert list(tmp_path.iterdir()) == []  # neither the output nor a temporary folder


def test_existing_output_is_kept_without_overwrite_and_replaced_with_it(tmp_path):
    path = tmp_path / "y.ome.zarr"
    write_volume(path, Volume(_stack((3, 64, 64)), "ZYX"))
    with pytest.raises(OutputError, match="already exists"):
        write_volume(path, Volume(_stack((3, 64, 64), seed=1), "ZYX"))
    new = _stack((3, 64, 64), seed=2)
    write_volume(path, Volume(new, "ZYX"), overwrite=True)
    np.testing.assert_array_equal(read_volume(path).data[:], new)
    assert [p.name for p in tmp_path.iterdir()] == ["y.ome.zarr"]


def test_folders_that_are_not_ome_zarr_images_are_refused(tmp_path):
    plain = tmp_path / "plain.zarr"
    zarr.open_group(str(plain), mode="w")
    with pytest.raises(FileFormatError, match="no OME-Zarr multiscales image"):
        read_volume(plain)
    empty = tmp_path / "empty.zarr"
    empty.mkdir()
    with pytest.raises(FileFormatError, match="not a zarr folder"):
        read_volume(empty)
    with pytest.raises(FileFormatError, match="t, c, z, y, x order"):
        write_volume(tmp_path / "bad.ome.zarr", Volume(_stack((4, 64, 3)), "YXC"))


def test_cli_denoises_an_ome_zarr_into_an_ome_zarr(tmp_path):
    from conftest import correlated_noise_stack

    _, noisy = correlated_noise_stack((8, 128, 128))
    source = tmp_path / "in.ome.zarr"
    write_volume(source, Volume(noisy, "ZYX", (3.0, 0.7, 0.7), metadata={"unit": "mm"}))
    args = ["denoise", str(source), "-o", str(tmp_path / "out.ome.zarr"), "--epochs", "1"]
    args += ["--min-steps", "0", "--patch-size", "32", "--threads", "1", "-q"]
    assert main(args) == 0
    out = read_volume(tmp_path / "out.ome.zarr")
    assert out.data.shape == noisy.shape and out.spacing == (3.0, 0.7, 0.7)
    assert out.metadata["unit"] == "mm"
    assert len(out.metadata["ome_zarr"]["levels"]) == 2
    assert np.isfinite(out.data[:]).all() and not np.allclose(out.data[:], noisy)
    # several inputs into a folder: <stem>_denoised.ome.zarr
    both = [str(source), str(tmp_path / "out.ome.zarr")]
    assert main(["denoise", *both, "-o", str(tmp_path), *args[4:]]) == 0
    assert (tmp_path / "in_denoised.ome.zarr").is_dir()
    assert (tmp_path / "out_denoised.ome.zarr").is_dir()


@pytest.mark.gui
def test_napari_opens_a_pyramid_and_saves_a_layer_as_ome_zarr(make_napari_viewer, tmp_path):
    data = _stack((4, 256, 256))
    path = tmp_path / "view.ome.zarr"
    write_volume(path, Volume(data, "ZYX", (2.0, 0.5, 0.5), metadata={"unit": "µm"}))
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(path), plugin="napari-nsn2n")
    assert layer.multiscale and len(layer.data) == 3
    assert tuple(layer.scale) == (2.0, 0.5, 0.5)
    assert not isinstance(layer.data[0], np.ndarray)  # lazy levels
    saved = tmp_path / "saved.ome.zarr"
    viewer.layers.save(str(saved), selected=False, plugin="napari-nsn2n")
    back = read_volume(saved)
    np.testing.assert_array_equal(back.data[:], data)
    assert back.spacing == (2.0, 0.5, 0.5) and back.metadata["unit"] == "µm"
