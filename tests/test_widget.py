"""The NS-N2N dock widget in a real napari viewer (Xvfb via pytest-xvfb), with real tiny runs."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = pytest.mark.gui

from qtpy.QtCore import QThreadPool  # noqa: E402
from qtpy.QtWidgets import QAbstractSlider  # noqa: E402

from napari_nsn2n._napari.widgets.dock import DenoiseWidget  # noqa: E402
from napari_nsn2n._napari.widgets.mask_display import (  # noqa: E402
    MASK_LAYER,
    MASK_MATCHED,
    MASK_UNMATCHED,
)
from napari_nsn2n.pipeline import apply_model  # noqa: E402
from widget_support import combo_items, isolated_preferences, open_widget, stack  # noqa: E402

SCALE = (2.0, 0.5, 0.5)


@pytest.fixture(autouse=True)
def preferences(tmp_path, monkeypatch):
    """napari's plugin preferences (the widget's remembered values) in ``tmp_path``."""
    yield from isolated_preferences(tmp_path, monkeypatch)


TINY = {
    "epochs": 3,
    "min_steps": 0,
    "batch": 2,
    "patch": 32,
    "base_channels": 8,
    "preview_every": 2,
    "device_combo": "cpu",
}
FAST = {"batch": 1, "patch": 16, "base_channels": 4, "preview_every": 0}  # ms-sized steps


def _set(widget, **settings) -> None:
    """Type the training settings into the settings section (CPU: the tests' defaults)."""
    panel = widget.settings_panel
    for name, value in {**TINY, **settings}.items():
        control = getattr(panel, name)
        if isinstance(value, str):
            control.setCurrentText(value)
        else:
            control.setValue(value)


def _widget(viewer, qtbot, data=None, **settings) -> tuple[DenoiseWidget, object]:
    layer = viewer.add_image(stack() if data is None else data, name="noisy", scale=SCALE)
    widget = open_widget(viewer)
    _set(widget, **settings)
    return widget, layer


def _lowpass(widget, qtbot) -> None:
    widget.mask_panel.lpf_button.click()
    qtbot.waitUntil(
        lambda: widget.state.differences is not None and widget.mask_panel.mask is not None,
        timeout=20000,
    )


def _wait_idle(widget, qtbot, timeout=300000) -> None:
    qtbot.waitUntil(lambda: not widget.state.training, timeout=timeout)


def test_docks_through_the_manifest(make_napari_viewer):
    viewer = make_napari_viewer()
    widget = open_widget(viewer)
    assert isinstance(widget, DenoiseWidget)
    assert widget.input_panel.layer is None
    assert not widget.training_panel.train_button.isEnabled()


def test_layer_picker_follows_add_remove_rename(make_napari_viewer):
    viewer = make_napari_viewer()
    widget = open_widget(viewer)
    source = widget.input_panel
    items = lambda: combo_items(source.layer_combo)  # noqa: E731
    a = viewer.add_image(stack(), name="a")
    viewer.add_labels(np.zeros((6, 32, 32), np.uint8), name="not an image")
    b = viewer.add_image(stack(seed=1), name="b")
    assert items() == ["a", "b"]
    source.select_layer(a)
    b.name = "renamed"
    assert items() == ["a", "renamed"]
    assert source.layer == a  # the choice survives the rename
    viewer.layers.remove(a)
    assert items() == ["renamed"] and source.layer == b
    assert source.scale_label.text() == "1 × 1 × 1 px"  # napari's default scale, in pixels
    # 4D needs an explicit slice-axis choice
    viewer.add_image(np.zeros((2, 6, 32, 32), np.float32), name="4d")
    source.select_layer("4d")
    train = widget.training_panel.train_button
    assert widget.state.axis is None and not train.isEnabled()
    source.axis_combo.setCurrentIndex(2)
    assert widget.state.axis == 1 and train.isEnabled()


def test_slider_updates_mask_live_and_suggest(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget, layer = _widget(viewer, qtbot)
    _lowpass(widget, qtbot)
    masks = widget.mask_panel
    labels = viewer.layers[MASK_LAYER]
    assert labels.data.shape == layer.data.shape
    assert tuple(labels.scale) == SCALE
    assert set(np.unique(labels.data[:-1])) <= {MASK_MATCHED, MASK_UNMATCHED}
    assert not labels.data[-1].any()  # the last slice has no pair
    slider = masks.threshold_slider.slider  # the QSlider a user drags
    assert isinstance(slider, QAbstractSlider)
    masks.threshold_slider.setValue(0.0)
    qtbot.waitUntil(lambda: not masks.mask.busy, timeout=5000)
    before, text_before = labels.data.copy(), masks.fraction_label.text()
    slider.setValue(slider.maximum())  # th = 0.2: almost everything matched
    assert masks.threshold_slider.value() == pytest.approx(0.2)
    shown = round(viewer.dims.point[0] / SCALE[0])
    assert not np.array_equal(labels.data[shown], before[shown])  # the shown slice at once
    qtbot.waitUntil(lambda: not masks.mask.busy, timeout=5000)
    assert not np.array_equal(labels.data, before)
    diffs = widget.state.differences
    assert np.array_equal(labels.data, diffs.mask_volume(0.2))
    assert masks.fraction_label.text() != text_before
    assert f"{100 * diffs.matched_fraction(0.2):.1f} %" in masks.fraction_label.text()
    masks.threshold_slider.setValue(0.0)
    masks.suggest_button.click()
    config = widget.settings_panel.train_config
    suggested = diffs.suggest_threshold(config())
    assert masks.threshold_slider.value() == pytest.approx(min(suggested, 0.2), abs=1e-4)
    assert masks.threshold_slider.value() > 0
    assert masks.threshold_slider.suggestion == pytest.approx(suggested)  # marked on the slider
    # Suggest plans for the training settings: a long run gets a lower th (threshold.k_for_budget)
    short = masks.threshold_slider.value()
    widget.settings_panel.min_steps.setValue(5000)
    assert diffs.planned_steps(config()) >= 5000
    masks.suggest_button.click()
    assert masks.threshold_slider.value() == pytest.approx(
        min(diffs.suggest_threshold(config()), 0.2), abs=1e-4
    )
    assert not diffs.correlated_noise  # white noise: k follows the budget
    assert masks.threshold_slider.value() < short


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
    data[:] = stack((8, 48, 48))
    data.flush()
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, data=np.load(tmp_path / "big.npy", mmap_mode="r"))
    _lowpass(widget, qtbot)
    masks = widget.mask_panel
    diffs = widget.state.differences
    assert isinstance(diffs.differences, np.memmap)
    labels = viewer.layers[MASK_LAYER]
    assert isinstance(labels.data, np.memmap)
    th = masks.threshold_slider.value()
    expected = diffs.mask_volume(th)
    shown = round(viewer.dims.point[0] / SCALE[0])
    written = lambda: [k for k in range(8) if labels.data[k].any()]  # noqa: E731
    assert written() == [shown]
    assert np.array_equal(labels.data[shown], expected[shown])
    assert "≈" in masks.fraction_label.text()  # sampled estimate: the volume is not filled
    viewer.dims.set_current_step(0, 1)
    assert written() == sorted({shown, 1})
    assert np.array_equal(labels.data[1], expected[1])
    masks.threshold_slider.setValue(0.2)
    assert not masks.mask.busy  # no whole-volume fill queued
    assert np.array_equal(labels.data[1], diffs.mask_volume(0.2)[1])
    assert written() == sorted({shown, 1})


def test_training_delivers_loss_preview_and_result(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget, layer = _widget(viewer, qtbot)
    layer.metadata["note"] = "kept"
    _lowpass(widget, qtbot)
    training = widget.training_panel
    training.train_button.click()
    assert training.is_training
    assert viewer.layers["denoised (preview)"].data.shape == layer.data.shape
    _wait_idle(widget, qtbot)
    assert training.loss_plot.n_points >= 2
    assert training.n_previews >= 1
    assert training.last_finished is not None and not training.last_finished.stopped_early
    result = viewer.layers["noisy denoised"]
    assert result.data.shape == layer.data.shape
    assert tuple(result.scale) == SCALE
    assert result.metadata.get("note") == "kept"
    assert tuple(result.contrast_limits) == pytest.approx(tuple(layer.contrast_limits))
    assert "denoised (preview)" not in viewer.layers
    assert (training.last_step.step, training.last_step.total_steps) == (9, 9)
    assert "step 9/9" in training.status_label.text() or "done" in training.status_label.text()
    assert (
        "done" in training.status_label.text()
        and "'noisy denoised'" in training.status_label.text()
    )
    assert widget.model_panel.save_button.isEnabled()


def test_residual_layer_shows_what_training_removed(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget, layer = _widget(viewer, qtbot, **FAST)
    widget.settings_panel.residual.setChecked(True)
    widget.training_panel.train_button.click()
    _wait_idle(widget, qtbot)
    residual, result = viewer.layers["noisy residual"], viewer.layers["noisy denoised"]
    expected = np.asarray(layer.data, np.float32) - np.asarray(result.data, np.float32)
    np.testing.assert_allclose(residual.data, expected, atol=1e-5)
    assert tuple(residual.scale) == SCALE and not residual.visible
    low, high = residual.contrast_limits
    assert low == pytest.approx(-high) and high > 0
    assert list(viewer.layers).index(result) > list(viewer.layers).index(residual)
    assert viewer.layers.selection.active is result  # the result is the layer in hand


def test_min_steps_raises_the_epochs_of_a_short_stack(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    # 6 slices of 32 x 32: 5 pairs x 4 patches of 16 px, batch 1 -> 20 steps per epoch
    widget, _ = _widget(viewer, qtbot, **FAST, epochs=1, min_steps=50)
    assert widget.settings_panel.train_config().min_steps == 50
    training = widget.training_panel
    training.train_button.click()
    _wait_idle(widget, qtbot)
    assert training.last_finished is not None and not training.last_finished.stopped_early
    assert (training.last_step.step, training.last_step.total_steps) == (60, 60)
    assert training.last_step.epoch == 3  # ceil(50 / 20) epochs instead of the 1 asked for
    assert "3 epochs (60 steps)" in widget.model_panel.model_label.text()


def test_pause_resume_and_stop(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, **FAST, epochs=300)
    _lowpass(widget, qtbot)
    training = widget.training_panel
    training.train_button.click()
    qtbot.waitUntil(
        lambda: training.last_step is not None and training.last_step.step >= 3, timeout=20000
    )
    training.pause_button.click()
    assert training.pause_button.text() == "Resume"
    frozen = -1
    for _ in range(10):  # let the step in progress (and any held-back one) arrive
        if training.last_step.step == frozen:
            break
        frozen = training.last_step.step
        qtbot.wait(2500)
    qtbot.wait(1500)
    assert training.last_step.step == frozen
    assert "paused" in training.status_label.text()  # not overwritten by a late step
    training.pause_button.click()
    assert training.pause_button.text() == "Pause"
    qtbot.waitUntil(lambda: training.last_step.step > frozen, timeout=10000)
    assert "paused" not in training.status_label.text() and "ETA" in training.status_label.text()
    training.stop_button.click()
    _wait_idle(widget, qtbot)
    assert training.last_finished is not None and training.last_finished.stopped_early
    assert training.last_step.step < training.last_step.total_steps
    assert "noisy denoised" in viewer.layers
    assert "stopped early" in training.status_label.text()


def test_closing_the_viewer_stops_training(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, **FAST, epochs=1000)
    _lowpass(widget, qtbot)
    training = widget.training_panel
    training.train_button.click()
    # the first step, not its speed, is what this test needs: a loaded CI machine once took > 20 s
    qtbot.waitUntil(lambda: training.last_step is not None, timeout=60000)
    worker, abort = training.worker, training.abort
    viewer.close()  # napari closes the main window; the widget's event filter calls cleanup()
    assert abort.is_set()
    qtbot.waitUntil(
        lambda: not worker.is_running and QThreadPool.globalInstance().activeThreadCount() == 0,
        timeout=3000,  # cleanup already waited up to 1 s; one training step must end
    )
    assert training.last_finished is None  # aborted, not finished


def test_settings_persist_between_instances(make_napari_viewer, preferences):
    """The values come back in the next widget, through napari's preferences (a file in
    napari's settings folder); the threshold belongs to a stack and is not carried over."""
    viewer = make_napari_viewer()
    viewer.add_image(stack(), name="ct")
    first = open_widget(viewer)
    settings = first.settings_panel
    # λ RC starts at "auto" (the box's minimum); one step up is 0, off
    assert settings.lambda_rc.text() == "auto" and settings.train_config().lambda_rc == "auto"
    settings.lambda_rc.stepBy(1)
    assert settings.lambda_rc.text() != "auto" and settings.train_config().lambda_rc == 0.0
    settings.epochs.setValue(7)
    settings.lambda_rc.setValue(0.25)
    first.mask_panel.threshold_slider.setValue(0.033)
    settings.device_combo.setCurrentText("cpu")
    settings.tta.setChecked(True)
    settings.rician.setChecked(True)
    first.mask_panel.stabilize.setCurrentText("off")
    assert settings.lr_schedule.currentText() == settings.defaults.lr_schedule
    settings.lr_schedule.setCurrentText(
        "step" if settings.defaults.lr_schedule == "late" else "late"
    )
    first.save_settings()
    stored = (preferences / "napari-nsn2n.yaml").read_text()
    assert "epochs: 7" in stored and "lambda_rc: 0.25" in stored
    second = DenoiseWidget(viewer)
    s2 = second.settings_panel
    assert s2.epochs.value() == 7
    assert s2.lambda_rc.value() == pytest.approx(0.25)
    assert s2.train_config().lambda_rc == pytest.approx(0.25)
    assert s2.device_combo.currentText() == "cpu"
    assert s2.tta.isChecked()
    assert s2.rician.isChecked()
    assert second.mask_panel.stabilize.currentText() == "off"
    assert second.mask_panel.lowpass_settings().stabilize == "off"
    assert s2.train_config().epochs == 7
    assert s2.train_config().lr_schedule == settings.lr_schedule.currentText()
    # the threshold chosen for 'ct' is not applied to another stack
    viewer.add_image(stack(seed=3), name="mri")
    second.input_panel.select_layer("mri")
    assert second.state.threshold is None  # "auto" until one is chosen for this stack
    second.input_panel.select_layer("ct")
    first.input_panel.select_layer("ct")
    assert first.state.threshold == pytest.approx(0.033)  # the stack's own choice comes back
    first.cleanup()
    second.cleanup()


def test_model_save_load_apply_round_trip(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    widget, layer = _widget(viewer, qtbot, epochs=1, preview_every=0)
    for th in (0.02, 0.01):  # typed in before any LPF: th = 0.01 for this stack
        widget.mask_panel.threshold_slider.spin.setValue(th)
    widget.training_panel.train_button.click()  # no LPF yet: the engine computes it itself
    _wait_idle(widget, qtbot)
    models = widget.model_panel
    trained = widget.state.model
    path = models.save_model(tmp_path / "model.pt")
    assert path is not None and path.is_file()
    widget.state.model = None
    assert not models.save_button.isEnabled() and not models.apply_button.isEnabled()
    loaded = models.load_model(path)
    assert loaded is not None and widget.state.model is loaded
    assert "loaded from model.pt" in models.model_label.text()
    assert loaded.config == trained.config
    for key, value in trained.state.items():
        assert np.array_equal(value.numpy(), loaded.state[key].numpy())
    widget.input_panel.select_layer(layer)
    models.apply_button.click()
    qtbot.waitUntil(lambda: "noisy denoised (model)" in viewer.layers, timeout=20000)
    applied = viewer.layers["noisy denoised (model)"]
    np.testing.assert_allclose(applied.data, viewer.layers["noisy denoised"].data, atol=1e-4)
    assert tuple(applied.scale) == SCALE
    assert models.last_renormalized is False  # the training stack itself: same units
    widget.settings_panel.tta.setChecked(True)  # test-time augmentation: the engine's 8-fold mean
    viewer.layers.remove(applied)
    qtbot.waitUntil(lambda: not widget.state.applying, timeout=20000)
    models.apply_button.click()
    qtbot.waitUntil(lambda: "noisy denoised (model)" in viewer.layers, timeout=20000)
    with_tta = viewer.layers["noisy denoised (model)"].data
    expected = apply_model(loaded, layer.data, axis=0, device="cpu", tta=True)
    np.testing.assert_allclose(with_tta, expected, atol=1e-5)
    assert np.abs(with_tta - applied.data).max() > 1e-4
    assert models.load_model(tmp_path / "missing.pt") is None  # reported, not raised


def test_rician_correction_reaches_the_result_and_apply(make_napari_viewer, qtbot):
    from napari_nsn2n.method.rician import remove_rician_bias
    from napari_nsn2n.samples import mri_stack

    viewer = make_napari_viewer()
    sample = mri_stack((6, 48, 48), level=0.05)
    widget, layer = _widget(viewer, qtbot, data=sample.noisy, epochs=1, preview_every=0)
    widget.settings_panel.rician.setChecked(True)
    training = widget.training_panel
    training.train_button.click()
    _wait_idle(widget, qtbot)
    bundle = widget.state.model
    sigma = bundle.meta["rician_sigma"]
    assert f"Rician bias removed (σ {sigma:.3g})" in training.status_label.text()
    # the default λ RC ("auto") trained without L_RC on this pixel-independent noise, and says so
    assert bundle.config.lambda_rc == 0.0 and "λ RC 0 (auto)" in training.status_label.text()
    assert sigma == pytest.approx(0.05 * float(sample.clean.max()), rel=0.3)
    plain = apply_model(bundle, layer.data, axis=0, device="cpu")
    result = viewer.layers["noisy denoised"].data
    np.testing.assert_allclose(result, remove_rician_bias(plain, sigma), atol=1e-4)
    assert result[sample.clean == 0].mean() < 0.5 * plain[sample.clean == 0].mean()
    widget.model_panel.apply_button.click()  # 'Apply to layer' corrects too (sigma estimated again)
    qtbot.waitUntil(lambda: "noisy denoised (model)" in viewer.layers, timeout=20000)
    applied = viewer.layers["noisy denoised (model)"].data
    np.testing.assert_allclose(applied, result, atol=1e-4)


def test_a_rollback_of_the_divergence_guard_is_shown(make_napari_viewer):
    from napari.utils.notifications import notification_manager

    from napari_nsn2n.events import Recovered

    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, None)
    event = Recovered(step=120, restored_step=50, loss=2.7, median=0.004, lr_scale=0.5)
    widget.training_panel.on_train_event(event)
    assert widget.training_panel.recoveries == [event]
    messages = [str(n.message) for n in notification_manager.records]
    assert any("step 120" in m and "step 50 restored" in m for m in messages)
