"""The NS-N2N dock widget in a real napari viewer (Xvfb via pytest-xvfb), with real tiny runs."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = pytest.mark.gui

from qtpy.QtCore import QThreadPool  # noqa: E402
from qtpy.QtWidgets import QAbstractSlider  # noqa: E402

from napari_nsn2n._napari import settings as w_settings  # noqa: E402
from napari_nsn2n._napari.widgets.dock import MASK_LAYER, DenoiseWidget  # noqa: E402
from napari_nsn2n._napari.widgets.mask_display import MASK_MATCHED, MASK_UNMATCHED  # noqa: E402
from napari_nsn2n.pipeline import apply_model  # noqa: E402

SCALE = (2.0, 0.5, 0.5)
TINY = {
    "epochs": 3,
    "min_steps": 0,
    "batch": 2,
    "patch": 32,
    "base_channels": 8,
    "preview_every": 2,
}
FAST = {"batch": 1, "patch": 16, "base_channels": 4, "preview_every": 0}  # ms-sized steps


@pytest.fixture(autouse=True)
def _tmp_settings(tmp_path, monkeypatch):
    """Keep the widget's QSettings in a temporary INI file."""
    monkeypatch.setenv(w_settings.ENV_VAR, str(tmp_path / "settings.ini"))


def _stack(shape=(6, 32, 32), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]].astype(np.float32)
    clean = 0.5 + 0.3 * (np.hypot(y - shape[1] / 2, x - shape[2] / 2) < 6 + 2 * z)
    return (clean + 0.05 * rng.standard_normal(shape)).astype(np.float32)


def _widget(viewer, qtbot, data=None, **settings) -> tuple[DenoiseWidget, object]:
    layer = viewer.add_image(_stack() if data is None else data, name="noisy", scale=SCALE)
    widget = DenoiseWidget(viewer)
    viewer.window.add_dock_widget(widget, name="NS-N2N", area="right")
    for name, value in {**TINY, **settings}.items():
        getattr(widget, name).setValue(value)
    return widget, layer


def _lowpass(widget, qtbot) -> None:
    widget.start_lowpass()
    qtbot.waitUntil(
        lambda: widget.differences is not None and widget._mask is not None, timeout=20000
    )


def _wait_idle(widget, qtbot, timeout=120000) -> None:
    qtbot.waitUntil(lambda: not widget.is_training, timeout=timeout)


def test_docks_through_the_manifest(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-nsn2n", "NS-N2N denoising")
    assert isinstance(widget, DenoiseWidget)
    assert widget.layer is None and not widget.train_button.isEnabled()


def test_layer_picker_follows_add_remove_rename(make_napari_viewer):
    viewer = make_napari_viewer()
    widget = DenoiseWidget(viewer)
    viewer.window.add_dock_widget(widget)
    items = lambda: [widget.layer_combo.itemText(i) for i in range(widget.layer_combo.count())]  # noqa: E731
    a = viewer.add_image(_stack(), name="a")
    viewer.add_labels(np.zeros((6, 32, 32), np.uint8), name="not an image")
    b = viewer.add_image(_stack(seed=1), name="b")
    assert items() == ["a", "b"]
    widget.select_layer(a)
    b.name = "renamed"
    assert items() == ["a", "renamed"]
    assert widget.layer is a  # the choice survives the rename
    viewer.layers.remove(a)
    assert items() == ["renamed"] and widget.layer is b
    assert widget.scale_label.text() == "1 × 1 × 1"
    # 4D needs an explicit slice-axis choice
    viewer.add_image(np.zeros((2, 6, 32, 32), np.float32), name="4d")
    widget.select_layer(viewer.layers["4d"])
    assert widget.axis is None and not widget.train_button.isEnabled()
    widget.axis_combo.setCurrentIndex(2)
    assert widget.axis == 1 and widget.train_button.isEnabled()


def test_slider_updates_mask_live_and_suggest(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget, layer = _widget(viewer, qtbot)
    _lowpass(widget, qtbot)
    labels = viewer.layers[MASK_LAYER]
    assert labels.data.shape == layer.data.shape
    assert tuple(labels.scale) == SCALE
    assert set(np.unique(labels.data[:-1])) <= {MASK_MATCHED, MASK_UNMATCHED}
    assert not labels.data[-1].any()  # the last slice has no pair
    slider = widget.threshold_slider._slider  # the real QSlider inside the labeled slider
    assert isinstance(slider, QAbstractSlider)
    widget.threshold_slider.setValue(0.0)
    qtbot.waitUntil(lambda: not widget._mask.busy, timeout=5000)
    before, text_before = labels.data.copy(), widget.fraction_label.text()
    slider.setValue(slider.maximum())  # th = 0.2: almost everything matched
    assert widget.threshold_slider.value() == pytest.approx(0.2)
    shown = round(viewer.dims.point[0] / SCALE[0])
    assert not np.array_equal(labels.data[shown], before[shown])  # the shown slice at once
    qtbot.waitUntil(lambda: not widget._mask.busy, timeout=5000)
    assert not np.array_equal(labels.data, before)
    assert np.array_equal(labels.data, widget.differences.mask_volume(0.2))
    assert widget.fraction_label.text() != text_before
    assert f"{100 * widget.differences.matched_fraction(0.2):.1f} %" in widget.fraction_label.text()
    widget.threshold_slider.setValue(0.0)
    widget.suggest_button.click()
    diffs = widget.differences
    suggested = diffs.suggest_threshold(widget.settings_panel.train_config())
    assert widget.threshold_slider.value() == pytest.approx(min(suggested, 0.2), abs=1e-4)
    assert widget.threshold_slider.value() > 0
    # Suggest plans for the training settings: a long run gets a lower th (threshold.k_for_budget)
    short = widget.threshold_slider.value()
    widget.settings_panel.min_steps.setValue(5000)
    assert diffs.planned_steps(widget.settings_panel.train_config()) >= 5000
    widget.suggest_button.click()
    assert widget.threshold_slider.value() == pytest.approx(
        min(diffs.suggest_threshold(widget.settings_panel.train_config()), 0.2), abs=1e-4
    )
    assert not diffs.correlated_noise  # white noise: k follows the budget
    assert widget.threshold_slider.value() < short


def test_large_memmap_layer_is_masked_where_shown_only(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """A layer too big to load: the engine reads it slice by slice, the differences spill to a
    temporary file and the W mask is a sparse temporary memmap written only where shown."""
    from napari_nsn2n import resources as storage
    from napari_nsn2n._napari.widgets import mask_display as w_mask

    monkeypatch.setattr(storage, "LOAD_LIMIT_BYTES", 1024)  # as if the stack were huge
    monkeypatch.setattr(storage, "SPILL_BYTES", 1024)
    monkeypatch.setattr(w_mask, "LARGE_MASK_BYTES", 1024)
    data = np.lib.format.open_memmap(tmp_path / "big.npy", "w+", np.float32, (8, 48, 48))
    data[:] = _stack((8, 48, 48))
    data.flush()
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, data=np.load(tmp_path / "big.npy", mmap_mode="r"))
    _lowpass(widget, qtbot)
    diffs = widget.differences
    assert isinstance(diffs.differences, np.memmap)
    labels = viewer.layers[MASK_LAYER]
    assert isinstance(labels.data, np.memmap)
    th = widget.threshold_slider.value()
    expected = diffs.mask_volume(th)
    shown = round(viewer.dims.point[0] / SCALE[0])
    written = lambda: [k for k in range(8) if labels.data[k].any()]  # noqa: E731
    assert written() == [shown]
    assert np.array_equal(labels.data[shown], expected[shown])
    assert "≈" in widget.fraction_label.text()  # sampled estimate: the volume is not filled
    viewer.dims.set_current_step(0, 1)
    assert written() == sorted({shown, 1})
    assert np.array_equal(labels.data[1], expected[1])
    widget.threshold_slider.setValue(0.2)
    assert not widget._mask.busy  # no whole-volume fill queued
    assert np.array_equal(labels.data[1], diffs.mask_volume(0.2)[1])
    assert written() == sorted({shown, 1})


def test_training_delivers_loss_preview_and_result(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget, layer = _widget(viewer, qtbot)
    layer.metadata["note"] = "kept"
    _lowpass(widget, qtbot)
    widget.train_button.click()
    assert widget.is_training and viewer.layers["denoised (preview)"].data.shape == layer.data.shape
    _wait_idle(widget, qtbot)
    assert widget.loss_plot.n_points >= 2
    assert widget.n_previews >= 1
    assert widget.last_finished is not None and not widget.last_finished.stopped_early
    result = viewer.layers["noisy denoised"]
    assert result.data.shape == layer.data.shape
    assert tuple(result.scale) == SCALE
    assert result.metadata.get("note") == "kept"
    assert tuple(result.contrast_limits) == pytest.approx(tuple(layer.contrast_limits))
    assert "denoised (preview)" not in viewer.layers
    assert "step 9/9" in widget.status_label.text() or "done" in widget.status_label.text()
    assert widget.save_button.isEnabled()


def test_min_steps_raises_the_epochs_of_a_short_stack(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    # 6 slices of 32 x 32: 5 pairs x 4 patches of 16 px, batch 1 -> 20 steps per epoch
    widget, _ = _widget(viewer, qtbot, **FAST, epochs=1, min_steps=50)
    assert widget.train_config().min_steps == 50
    widget.train_button.click()
    _wait_idle(widget, qtbot)
    assert widget.last_finished is not None and not widget.last_finished.stopped_early
    assert (widget.last_step.step, widget.last_step.total_steps) == (60, 60)
    assert widget.last_step.epoch == 3  # ceil(50 / 20) epochs instead of the 1 asked for
    assert "3 epochs (60 steps)" in widget.model_label.text()


def test_pause_resume_and_stop(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, **FAST, epochs=300)
    _lowpass(widget, qtbot)
    widget.train_button.click()
    qtbot.waitUntil(
        lambda: widget.last_step is not None and widget.last_step.step >= 3, timeout=20000
    )
    widget.pause_button.click()
    assert widget.pause_button.text() == "Resume"
    qtbot.wait(400)  # let any held-back step arrive
    frozen = widget.last_step.step
    qtbot.wait(600)
    assert widget.last_step.step == frozen
    widget.pause_button.click()
    assert widget.pause_button.text() == "Pause"
    qtbot.waitUntil(lambda: widget.last_step.step > frozen, timeout=10000)
    widget.stop_button.click()
    _wait_idle(widget, qtbot)
    assert widget.last_finished is not None and widget.last_finished.stopped_early
    assert widget.last_step.step < widget.last_step.total_steps
    assert "noisy denoised" in viewer.layers
    assert "stopped early" in widget.status_label.text()


def test_closing_the_viewer_stops_training(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, **FAST, epochs=1000)
    _lowpass(widget, qtbot)
    widget.train_button.click()
    qtbot.waitUntil(lambda: widget.last_step is not None, timeout=20000)
    worker = widget._train_worker
    viewer.close()  # napari closes the main window; the widget's event filter calls cleanup()
    assert widget._abort.is_set()
    qtbot.waitUntil(
        lambda: not worker.is_running and QThreadPool.globalInstance().activeThreadCount() == 0,
        timeout=3000,  # cleanup already waited up to 1 s; one training step must end
    )
    assert widget.last_finished is None  # aborted, not finished


def test_settings_persist_between_instances(make_napari_viewer):
    viewer = make_napari_viewer()
    first = DenoiseWidget(viewer)
    # λ RC starts at "auto" (the box's minimum); one step up is 0, off
    assert first.lambda_rc.text() == "auto" and first.train_config().lambda_rc == "auto"
    first.lambda_rc.stepBy(1)
    assert first.lambda_rc.text() != "auto" and first.train_config().lambda_rc == 0.0
    first.epochs.setValue(7)
    first.lambda_rc.setValue(0.25)
    first.threshold_slider.setValue(0.033)
    first.device_combo.setCurrentText("cpu")
    first.tta.setChecked(True)
    first.rician.setChecked(True)
    first.stabilize.setCurrentText("off")
    assert first.lr_schedule.currentText() == "late"  # the fast preset's, on this CPU machine
    first.lr_schedule.setCurrentText("step")
    first.save_settings()
    second = DenoiseWidget(viewer)
    assert second.epochs.value() == 7
    assert second.lambda_rc.value() == pytest.approx(0.25)
    assert second.train_config().lambda_rc == pytest.approx(0.25)
    assert second.threshold_slider.value() == pytest.approx(0.033)
    assert second.device_combo.currentText() == "cpu"
    assert second.tta.isChecked()
    assert second.rician.isChecked()
    assert second.stabilize.currentText() == "off"
    assert second.lowpass_settings().stabilize == "off"
    assert second.train_config().epochs == 7
    assert second.train_config().lr_schedule == "step"


def test_model_save_load_apply_round_trip(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    widget, layer = _widget(viewer, qtbot, epochs=1, preview_every=0)
    widget.train_button.click()  # no LPF yet: the engine computes it itself
    _wait_idle(widget, qtbot)
    trained = widget.bundle
    path = widget.save_model(tmp_path / "model.pt")
    assert path is not None and path.is_file()
    widget.bundle = None
    loaded = widget.load_model(path)
    assert loaded is not None and widget.bundle is loaded
    assert loaded.config == trained.config
    for key, value in trained.state.items():
        assert np.array_equal(value.numpy(), loaded.state[key].numpy())
    widget.select_layer(layer)
    widget.apply_button.click()
    qtbot.waitUntil(lambda: "noisy denoised (model)" in viewer.layers, timeout=20000)
    applied = viewer.layers["noisy denoised (model)"]
    np.testing.assert_allclose(applied.data, viewer.layers["noisy denoised"].data, atol=1e-4)
    assert tuple(applied.scale) == SCALE
    widget.tta.setChecked(True)  # test-time augmentation: the engine's 8-fold mean
    viewer.layers.remove(applied)
    widget.apply_button.click()
    qtbot.waitUntil(lambda: "noisy denoised (model)" in viewer.layers, timeout=20000)
    with_tta = viewer.layers["noisy denoised (model)"].data
    expected = apply_model(loaded, layer.data, axis=0, device="cpu", tta=True)
    np.testing.assert_allclose(with_tta, expected, atol=1e-5)
    assert np.abs(with_tta - applied.data).max() > 1e-4
    assert widget.load_model(tmp_path / "missing.pt") is None  # reported, not raised


def test_rician_correction_reaches_the_result_and_apply(make_napari_viewer, qtbot):
    from napari_nsn2n.method.rician import remove_rician_bias
    from napari_nsn2n.samples import mri_stack

    viewer = make_napari_viewer()
    sample = mri_stack((6, 48, 48), level=0.05)
    widget, layer = _widget(viewer, qtbot, data=sample.noisy, epochs=1, preview_every=0)
    widget.rician.setChecked(True)
    widget.train_button.click()
    _wait_idle(widget, qtbot)
    sigma = widget.bundle.meta["rician_sigma"]
    assert f"Rician bias removed (σ {sigma:.3g})" in widget.status_label.text()
    # the default λ RC ("auto") trained without L_RC on this pixel-independent noise, and says so
    assert widget.bundle.config.lambda_rc == 0.0 and "λ RC 0 (auto)" in widget.status_label.text()
    assert sigma == pytest.approx(0.05 * float(sample.clean.max()), rel=0.3)
    plain = apply_model(widget.bundle, layer.data, axis=0, device="cpu")
    result = viewer.layers["noisy denoised"].data
    np.testing.assert_allclose(result, remove_rician_bias(plain, sigma), atol=1e-4)
    assert result[sample.clean == 0].mean() < 0.5 * plain[sample.clean == 0].mean()
    widget.apply_button.click()  # 'Apply to layer' corrects too (sigma estimated again)
    qtbot.waitUntil(lambda: "noisy denoised (model)" in viewer.layers, timeout=20000)
    applied = viewer.layers["noisy denoised (model)"].data
    np.testing.assert_allclose(applied, result, atol=1e-4)


def test_a_rollback_of_the_divergence_guard_is_shown(make_napari_viewer):
    from napari.utils.notifications import notification_manager

    from napari_nsn2n.events import Recovered

    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, None)
    event = Recovered(step=120, restored_step=50, loss=2.7, median=0.004, lr_scale=0.5)
    widget.training_panel._on_train_event(event)
    assert widget.training_panel.recoveries == [event]
    messages = [str(n.message) for n in notification_manager.records]
    assert any("step 120" in m and "step 50 restored" in m for m in messages)
