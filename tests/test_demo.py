"""The demo job: the headless pipeline end to end on a tiny configuration, and its options."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from napari_nsn2n.cli import demo
from napari_nsn2n.cli.main import build_parser, main
from napari_nsn2n.figures import save_comparison_png
from napari_nsn2n.io import read_volume


def demo_main(argv):
    return main(["demo", *argv])


def test_headless_demo_writes_a_denoised_tif_and_a_comparison_png(tmp_path, capsys):
    out = tmp_path / "demo-out"  # created by the demo
    rc = demo_main(["--headless", "--epochs", "2", "--out", str(out), "--size", "small", "--quiet"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "PSNR    noisy" in printed and "-> denoised" in printed

    vol = read_volume(out / "ct_denoised.tif")
    assert vol.data.shape == demo.SIZES["small"]["ct"]
    assert vol.data.dtype == np.float32
    assert np.isfinite(vol.data).all() and vol.data.std() > 0
    stack = demo.make_sample("ct", "small")
    np.testing.assert_allclose(vol.spacing, stack.spacing, rtol=1e-6)
    np.testing.assert_array_equal(read_volume(out / "ct_noisy.tif").data, stack.noisy)

    png = np.asarray(Image.open(out / "ct_comparison.png").convert("L"), dtype=float)
    assert png.shape[1] > 2 * png.shape[0]  # three panels side by side
    assert png.std() > 20  # not blank
    third = png.shape[1] // 3
    header = png.shape[0] - third + 10
    assert png[:header].max() == 255  # labels
    # the noisy and clean panels show the phantom (2 epochs of a tiny net may not, yet)
    for k in (0, 2):
        assert png[header:, k * third : (k + 1) * third].std() > 20


def test_run_headless_returns_psnr_and_uses_the_sample_threshold(tmp_path):
    result = demo.run_headless("microscopy", out=tmp_path, epochs=1, size="small", quiet=True)
    stack = demo.make_sample("microscopy", "small")
    assert result.threshold == pytest.approx(stack.suggested_threshold)
    assert np.isfinite(result.psnr_noisy) and np.isfinite(result.psnr_denoised)
    assert result.denoised_path == tmp_path / "microscopy_denoised.tif"
    assert result.png_path.stat().st_size > 1000


def test_no_display_means_headless(monkeypatch, tmp_path):
    calls = {}
    monkeypatch.setattr(demo, "has_display", lambda: False)
    monkeypatch.setattr(demo, "run_headless", lambda **kw: calls.update(kw))
    monkeypatch.setattr(demo, "run_gui", lambda **kw: pytest.fail("GUI without a display"))
    assert demo_main(["--sample", "mri", "--out", str(tmp_path), "--epochs", "3"]) == 0
    assert calls["sample"] == "mri" and calls["epochs"] == 3 and calls["out"] == tmp_path


def test_has_display_follows_the_environment(monkeypatch):
    monkeypatch.setattr(demo.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert not demo.has_display()
    monkeypatch.setenv("DISPLAY", ":99")
    assert demo.has_display()


def test_bad_options_are_rejected(capsys):
    for argv in (["--sample", "xray"], ["--epochs", "0"], ["--threshold", "2"]):
        with pytest.raises(SystemExit) as exc:
            demo_main(argv)
        assert exc.value.code == 2
    demo_help = build_parser()._subparsers._group_actions[0].choices["demo"].format_help()
    assert "--size" not in demo_help  # hidden test option


def test_output_folder_that_cannot_be_created_is_a_clean_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = demo_main(["--headless", "--out", str(blocker / "sub"), "--size", "small", "-q"])
    assert rc == 1
    assert "cannot create the output folder" in capsys.readouterr().err


def test_comparison_png_uses_one_window_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    clean = np.zeros((3, 40, 40), np.float32)
    clean[:, 10:30, 10:30] = 100.0
    noisy = clean + rng.normal(0, 10, clean.shape).astype(np.float32)
    path = save_comparison_png(tmp_path / "c.png", noisy, clean, clean, window=(0, 100))
    img = np.asarray(Image.open(path).convert("L"), dtype=float)
    w = (img.shape[1] - 12) // 3
    header = img.shape[0] - w
    clean_panel = img[header:, 2 * (w + 6) :]
    assert clean_panel.max() == 255 and clean_panel.min() == 0
    assert img[:header].max() == 255  # the labels are drawn


@pytest.mark.gui
def test_gui_demo_opens_the_sample_and_docks_the_widget(make_napari_viewer, monkeypatch):
    pytest.importorskip("napari_nsn2n._napari.widgets.dock")
    import napari

    viewer = make_napari_viewer()
    monkeypatch.setattr(napari, "Viewer", lambda **kw: viewer)
    monkeypatch.setattr(napari, "run", lambda *a, **kw: None)
    from napari_nsn2n.samples import SAMPLE_SHAPES

    monkeypatch.setitem(SAMPLE_SHAPES, "ct", (8, 64, 64))
    assert demo.run_gui("ct", epochs=7) == 0
    assert len(viewer.layers) == 1
    layer = viewer.layers[0]
    assert layer.data.shape == (8, 64, 64) and "nsn2n_clean" in layer.metadata
    docked = [k for k in viewer.window.dock_widgets if k.startswith(demo.WIDGET)]
    assert len(docked) == 1
    widget = viewer.window.dock_widgets[docked[0]]
    assert widget.settings_panel.epochs.value() == 7
