"""bioimage.io model packages: export (validated by bioimageio.core), import, and refusals.

The export tests need the [bmz] extra (bioimageio.spec / bioimageio.core), which CI installs;
the refusals of corrupt and foreign zips run without it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from cli_runner import run_cli
from conftest import correlated_noise_stack
from napari_nsn2n import TrainConfig, apply_model, denoise, load_model, save_model
from napari_nsn2n.errors import ModelFormatError
from napari_nsn2n.method.unet import UNet
from napari_nsn2n.models import PackageExportError, PackageInfo, export_bioimageio, stack_sample
from napari_nsn2n.models.bmz_describe import tile_sizes
from napari_nsn2n.pipeline import compute_differences

TINY = TrainConfig(epochs=2, base_channels=8, depth=2, patch_size=None, batch_size=4, device="cpu")


def tiny_stack() -> np.ndarray:
    """A stack in 'scanner units' (not [0, 1]), so that the normalisation is really tested."""
    _, noisy = correlated_noise_stack(shape=(6, 40, 48))
    return (noisy * 1200.0 - 300.0).astype(np.float32)


def bioimageio_core():
    core = pytest.importorskip("bioimageio.core")
    from napari_nsn2n.models.bmz_compat import adjust_bioimageio_spec

    adjust_bioimageio_spec()
    return core


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    stack = tiny_stack()
    _, bundle = denoise(stack, threshold=0.05, config=TINY, return_model=True)
    path = save_model(bundle, tmp_path_factory.mktemp("model") / "tiny.pt")
    return stack, bundle, path


@pytest.fixture(scope="module")
def package(trained, tmp_path_factory):
    bioimageio_core()
    _, bundle, _ = trained
    path = tmp_path_factory.mktemp("package") / "tiny.zip"
    info = PackageInfo(authors=["Test Author"], modality="CT", tags=["phantom"])
    return export_bioimageio(bundle, path, info)


def test_a_run_keeps_its_middle_pair_and_its_mask(trained):
    stack, bundle, path = trained
    sample = load_model(path).sample
    assert sample is not None and sample.index == 2  # pairs start at 0..4: the middle one
    np.testing.assert_allclose(sample.slices, stack[2:4], rtol=1e-5, atol=1e-3)
    w = compute_differences(stack).masks(bundle.threshold)[2]
    assert sample.mask is not None and 0 < sample.mask.mean() < 1
    np.testing.assert_array_equal(sample.mask, w)


def test_a_run_without_masks_keeps_no_mask():
    _, bundle = denoise(
        tiny_stack(), config=TrainConfig(**{**TINY.to_dict(), "use_mask": False}), return_model=True
    )
    assert bundle.sample is not None and bundle.sample.mask is None


def test_tile_sizes_follow_the_unets_divisibility_and_receptive_field():
    for depth in (1, 2, 3):
        torch.manual_seed(0)
        net = UNet(4, depth, residual=False).eval()
        x = torch.zeros(1, 1, 160, 160, requires_grad=True)
        radius = 0
        for centre in range(72, 72 + 2**depth):  # every phase of the pooling grid
            x.grad = None
            net(x)[0, 0, centre, centre].backward()
            rows = torch.nonzero(x.grad[0, 0].abs().sum(1)).flatten()
            radius = max(radius, centre - int(rows.min()), int(rows.max()) - centre)
        sizes = tile_sizes(depth, 512)
        assert sizes.step == 2**depth
        assert radius <= sizes.halo < radius + sizes.step  # covers it, rounded up to half a step
        assert sizes.minimum % sizes.step == 0 and sizes.minimum > 2 * sizes.halo
    small = tile_sizes(3, 32)  # a tiny training crop: the halo shrinks to what it allows
    assert small.minimum <= 32 and small.minimum > 2 * small.halo


def test_export_passes_bioimageio_cores_test_and_describes_the_model(package, trained):
    core = bioimageio_core()
    _, bundle, _ = trained
    summary = core.test_model(package, devices=["cpu"])
    assert summary.status == "passed", summary.format()
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        rdf = archive.read("rdf.yaml").decode()
        readme = archive.read("README.md").decode()
        settings = json.loads(archive.read("napari-nsn2n.json"))
        test_input = np.load(archive.open("test_input.npy"))
        cover = archive.read("cover.png")
    assert {"weights_state_dict.pt", "weights_torchscript.pt", "unet.py", "cover.png"} <= names
    assert "format_version: 0.5." in rdf and "scale_linear" in rdf and "halo:" in rdf
    assert "Test Author" in rdf and "10.48550/arXiv.2411.10831" in rdf and "ct" in rdf
    assert f"{bundle.threshold:.6g}" in readme and "## Validation" in readme
    assert settings["normalizer"]["low"] == pytest.approx(bundle.normalizer.low)
    assert test_input.shape == (1, 1, 40, 48)  # the crop, to multiples of 2**depth
    width, height = int.from_bytes(cover[16:20], "big"), int.from_bytes(cover[20:24], "big")
    assert 1.6 < width / height < 2.4  # the 2:1 cover bioimage.io asks for


def test_a_consumer_gets_our_output_in_input_units(package, trained):
    bioimageio_core()
    from bioimageio.core import create_prediction_pipeline, load_model_description
    from bioimageio.core.digest_spec import create_sample_for_model

    stack, bundle, _ = trained
    ours = apply_model(bundle, stack, device="cpu", keep_structure=False)  # the network alone
    descr = load_model_description(package, perform_io_checks=False)
    for weights in ("pytorch_state_dict", "torchscript"):
        with create_prediction_pipeline(descr, weight_format=weights, devices=["cpu"]) as pp:
            batch = stack[:2, None]  # two slices as a batch, in HU-like units
            sample = create_sample_for_model(descr, inputs={"noisy": batch})
            out = pp.predict_sample_without_blocking(
                sample, skip_input_padding=True, skip_output_cropping=True
            )
            theirs = np.asarray(out.members["denoised"].data)[:, 0]
        np.testing.assert_allclose(theirs, ours[:2], atol=1e-5 * bundle.normalizer.scale)


def test_the_package_loads_back_and_denoises_as_the_model_file(package, trained):
    stack, bundle, _ = trained
    loaded = load_model(package)
    assert loaded.threshold == bundle.threshold and loaded.normalizer == bundle.normalizer
    assert loaded.config == bundle.config
    np.testing.assert_array_equal(
        apply_model(loaded, stack, device="cpu"), apply_model(bundle, stack, device="cpu")
    )


def test_export_keeps_the_callers_random_state(trained, tmp_path):
    bioimageio_core()
    _, bundle, _ = trained
    torch.manual_seed(1234)
    np.random.seed(1234)
    expected = torch.rand(3), np.random.rand(3)
    torch.manual_seed(1234)
    np.random.seed(1234)
    export_bioimageio(bundle, tmp_path / "model.zip", PackageInfo(authors=["A B"]))
    np.testing.assert_array_equal(torch.rand(3), expected[0])
    np.testing.assert_array_equal(np.random.rand(3), expected[1])


def test_an_invalid_description_writes_nothing_and_says_why(trained, tmp_path):
    bioimageio_core()
    _, bundle, _ = trained
    target = tmp_path / "model.zip"
    with pytest.raises(PackageExportError, match="license"):
        export_bioimageio(bundle, target, PackageInfo(license="not-a-licence"))
    assert list(tmp_path.iterdir()) == []


def test_a_model_file_without_slices_needs_its_stack(trained, tmp_path):
    bioimageio_core()
    stack, bundle, path = trained
    payload = torch.load(path, weights_only=True)
    del payload["sample"]  # a model file as written without test slices
    old = tmp_path / "old.pt"
    torch.save(payload, old)
    loaded = load_model(old)
    assert loaded.sample is None
    with pytest.raises(PackageExportError, match="--sample"):
        export_bioimageio(loaded, tmp_path / "old.zip")
    assert not (tmp_path / "old.zip").exists()
    sample = stack_sample(loaded, stack)
    assert sample.index == 2 and sample.mask is not None
    export_bioimageio(loaded, tmp_path / "old.zip", sample=sample)
    assert load_model(tmp_path / "old.zip").threshold == bundle.threshold


def test_an_existing_package_is_kept_without_overwrite(package, trained):
    _, bundle, _ = trained
    before = package.read_bytes()
    with pytest.raises(Exception, match="exists"):
        export_bioimageio(bundle, package)
    assert package.read_bytes() == before


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


FOREIGN_RDF = b"""format_version: 0.5.4
type: model
name: Some segmentation network
inputs: []
"""


def test_corrupt_and_foreign_zips_are_refused_with_a_reason(tmp_path):
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"PK\x03\x04 this is not really a zip file")
    with pytest.raises(ModelFormatError, match="corrupt zip"):
        load_model(garbage)
    foreign = write_zip(tmp_path / "foreign.zip", {"rdf.yaml": FOREIGN_RDF, "w.pt": b"x"})
    with pytest.raises(ModelFormatError, match="another tool"):
        load_model(foreign)
    plain = write_zip(tmp_path / "plain.zip", {"notes.txt": b"hello"})
    with pytest.raises(ModelFormatError, match=r"not a bioimage\.io model package"):
        load_model(plain)
    broken = write_zip(
        tmp_path / "broken.zip",
        {"rdf.yaml": b"type: model", "napari-nsn2n.json": b"{}", "weights_state_dict.pt": b"x"},
    )
    with pytest.raises(ModelFormatError, match="weights are unreadable"):
        load_model(broken)


def test_a_truncated_package_is_refused(package, tmp_path):
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(package.read_bytes()[: package.stat().st_size // 2])
    with pytest.raises(ModelFormatError, match="corrupt zip"):
        load_model(truncated)


def test_cli_denoise_refuses_a_foreign_package_and_writes_nothing(tmp_path, capsys):
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, tiny_stack())
    foreign = write_zip(tmp_path / "foreign.zip", {"rdf.yaml": FOREIGN_RDF})
    out = tmp_path / "out.tif"
    result = run_cli(capsys, "denoise", stack, "-o", out, "--model", foreign, "-q")
    assert result.returncode == 1
    assert "another tool" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_cli_exports_and_denoises_with_the_package(trained, tmp_path, capsys):
    bioimageio_core()
    stack, _, model = trained
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, stack)
    package = tmp_path / "model.zip"
    result = run_cli(
        capsys, "export", model, "-o", package, "--author", "Test Author", "--modality", "MRI"
    )
    assert result.returncode == 0, result.stderr
    assert "model test passed" in result.stderr and package.is_file()
    again = run_cli(capsys, "export", model, "-o", package)
    assert again.returncode == 1 and "exists" in again.stderr
    from_package, from_file = tmp_path / "a.tif", tmp_path / "b.tif"
    for model_path, out in ((package, from_package), (model, from_file)):
        result = run_cli(
            capsys, "denoise", source, "-o", out, "--model", model_path, "--device", "cpu", "-q"
        )
        assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(tifffile.imread(from_package), tifffile.imread(from_file))


def test_without_the_bmz_extra_export_says_what_to_install(trained, tmp_path):
    _, _, model = trained
    code = (
        "import sys; sys.modules['bioimageio'] = None\n"  # as if the extra were not installed
        "from napari_nsn2n.cli.main import main\n"
        f"sys.exit(main(['export', {str(model)!r}, '-o', {str(tmp_path / 'm.zip')!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    assert "napari-nsn2n[bmz]" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "m.zip").exists()


@pytest.mark.gui
def test_widget_exports_and_loads_a_package_through_its_buttons(
    trained, tmp_path, make_napari_viewer, qtbot, monkeypatch
):
    """Export… and Load… on a real viewer (the file dialogs answer with a path, as a user
    would type it): the package is tested, written, loaded back and applies like the model."""
    bioimageio_core()
    from qtpy.QtWidgets import QFileDialog

    from widget_support import isolated_preferences, open_widget

    preferences = isolated_preferences(tmp_path, monkeypatch)
    next(preferences)
    stack, bundle, model_path = trained
    viewer = make_napari_viewer()
    layer = viewer.add_image(stack, name="ct")
    widget = open_widget(viewer)
    models = widget.model_panel
    assert not models.export_button.isEnabled()  # no model yet
    models.load_model(model_path)
    assert models.export_button.isEnabled()
    target = tmp_path / "ct.zip"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    models.export_button.click()
    qtbot.waitUntil(lambda: models.export_worker is None, timeout=180000)
    assert models.last_export == target and target.is_file()
    assert "exported and tested" in models.status_label.text()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(target), ""))
    models.load_button.click()
    assert "loaded from ct.zip" in models.model_label.text()
    widget.input_panel.select_layer(layer)
    models.apply_button.click()
    qtbot.waitUntil(lambda: "ct denoised (model)" in viewer.layers, timeout=60000)
    expected = apply_model(bundle, stack)
    np.testing.assert_allclose(viewer.layers["ct denoised (model)"].data, expected, atol=1e-3)
    # a zip from another tool: one message, the current model kept
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("rdf.yaml", "type: model\nformat_version: 0.5.4\n")
    current = widget.state.model
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(foreign), ""))
    models.load_button.click()
    assert widget.state.model is current
