"""The dock widget as a user meets it: opened from the Plugins menu beside the plugin's own layers,
on a laptop screen, with failing inputs, stacks in other units and several inputs in turn."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = pytest.mark.gui

from napari.utils.notifications import (  # noqa: E402
    ErrorNotification,
    NotificationSeverity,
    notification_manager,
)
from napari.utils.progress import progress  # noqa: E402

from widget_support import combo_items, isolated_preferences, open_widget, stack  # noqa: E402

FAST = {"batch": 1, "patch": 16, "base_channels": 4, "preview_every": 2, "min_steps": 0}
MM = ("millimeter", "millimeter", "millimeter")


@pytest.fixture(autouse=True)
def preferences(tmp_path, monkeypatch):
    yield from isolated_preferences(tmp_path, monkeypatch)


def _fast(widget, epochs=1, **extra) -> None:
    panel = widget.settings_panel
    panel.device_combo.setCurrentText("cpu")
    panel.epochs.setValue(epochs)
    for name, value in {**FAST, **extra}.items():
        getattr(panel, name).setValue(value)


def _errors() -> int:
    """Error notifications so far (toasts in napari's window)."""
    return sum(
        isinstance(n, ErrorNotification) or n.severity == NotificationSeverity.ERROR
        for n in notification_manager.records
    )


def test_picker_never_offers_the_preview_and_keeps_its_pick(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(stack(seed=1), name="other")
    noisy = viewer.add_image(stack(), name="noisy")
    widget = open_widget(viewer)  # as from the Plugins menu: napari hands proxies
    source = widget.input_panel
    source.select_layer("noisy")
    _fast(widget, epochs=400)
    training = widget.training_panel
    training.train_button.click()
    qtbot.waitUntil(lambda: training.last_step is not None, timeout=60000)
    assert "denoised (preview)" in viewer.layers
    assert combo_items(source.layer_combo) == ["other", "noisy"]
    viewer.layers.remove(noisy)  # the input goes while training goes on
    assert combo_items(source.layer_combo) == ["other"]
    assert source.layer.name == "other"
    training.stop_button.click()
    qtbot.waitUntil(lambda: not widget.state.training, timeout=120000)
    assert "noisy denoised" in viewer.layers  # the run still delivers its result
    assert "denoised (preview)" not in combo_items(source.layer_combo)


def test_a_failing_lpf_is_reported_once_and_said_so(make_napari_viewer, qtbot, monkeypatch):
    monkeypatch.setattr(notification_manager, "catch_error", True)  # as in napari's GUI
    viewer = make_napari_viewer()
    viewer.add_image(np.ones((6, 32, 32), np.float32), name="flat")
    widget = open_widget(viewer)
    before = _errors()
    widget.mask_panel.lpf_button.click()
    qtbot.waitUntil(lambda: not widget.state.lpf_running, timeout=30000)
    qtbot.wait(200)
    assert _errors() - before == 1
    label = widget.mask_panel.fraction_label.text()
    assert label.startswith("LPF failed") and "constant" in label and "cancelled" not in label
    assert widget.mask_panel.lpf_button.isEnabled()  # ready for another try


SCRIPT = """
import time
import numpy as np
import napari
from qtpy.QtWidgets import QApplication

viewer = napari.Viewer(show=False)
viewer.add_image(np.ones((6, 32, 32), np.float32), name="flat")
_, widget = viewer.window.add_plugin_dock_widget("napari-nsn2n", "NS-N2N denoising")
widget.mask_panel.lpf_button.click()
end = time.monotonic() + 60
while (widget.state.lpf_running or widget.mask_panel.worker) and time.monotonic() < end:
    QApplication.processEvents()
    time.sleep(0.01)
for _ in range(20):
    QApplication.processEvents()
print("LABEL:", widget.mask_panel.fraction_label.text())
viewer.close()
"""


def test_a_failing_worker_does_not_abort_a_script(tmp_path):
    """Outside napari's event loop and exception hooks (a plain script) an error in a worker
    is reported, not re-raised in a Qt slot (which aborts the process)."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    root = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root / "src"), os.environ.get("PYTHONPATH", "")]),
        "NAPARI_CONFIG": str(tmp_path / "napari.yaml"),
    }
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "LABEL: LPF failed" in done.stdout


def test_2d_and_rgb_layers_say_why_nothing_can_run(make_napari_viewer):
    viewer = make_napari_viewer()
    widget = open_widget(viewer)
    source, train = widget.input_panel, widget.training_panel.train_button
    viewer.add_image(np.zeros((32, 32), np.float32), name="plane")
    source.select_layer("plane")
    assert not train.isEnabled() and "2D image" in source.problem_label.text()
    assert "2D image" in train.toolTip()
    viewer.add_image(np.zeros((6, 32, 32, 3), np.uint8), name="colour", rgb=True)
    source.select_layer("colour")
    assert combo_items(source.axis_combo) == []  # no slice axis offered for RGB
    assert "RGB" in source.problem_label.text() and not train.isEnabled()
    assert not widget.mask_panel.lpf_button.isEnabled()


def test_every_added_layer_has_the_source_units(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer = viewer.add_image(stack(), name="ct", scale=(2.0, 0.5, 0.5), units=MM)
    widget = open_widget(viewer)
    _fast(widget)
    widget.mask_panel.lpf_button.click()
    qtbot.waitUntil(lambda: widget.mask_panel.mask is not None, timeout=30000)
    training = widget.training_panel
    training.train_button.click()
    preview = viewer.layers["denoised (preview)"]
    added = [viewer.layers["W mask"], preview]
    qtbot.waitUntil(lambda: not widget.state.training, timeout=120000)
    added.append(viewer.layers["ct denoised"])
    for plugin_layer in added:
        assert tuple(str(u) for u in plugin_layer.units) == MM, plugin_layer.name
        assert tuple(plugin_layer.scale) == tuple(layer.scale), plugin_layer.name
    assert viewer.layers.extent.units is not None  # napari renders with units (no mixing)


def test_switching_inputs_keeps_one_mask_layer_and_names_results_truly(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(stack(), name="a")
    viewer.add_image(stack((5, 40, 40), seed=2), name="b")
    viewer.add_image(np.zeros((6, 32, 32), np.float32), name="a denoised")  # name taken
    widget = open_widget(viewer)
    masks, source = widget.mask_panel, widget.input_panel
    for name in ("a", "b", "a"):
        source.select_layer(name)
        masks.lpf_button.click()
        qtbot.waitUntil(lambda: masks.mask is not None, timeout=30000)
    names = [layer.name for layer in viewer.layers]
    assert names.count("W mask") == 1 and not any(n.startswith("W mask [") for n in names)
    _fast(widget)
    widget.training_panel.train_button.click()
    qtbot.waitUntil(lambda: not widget.state.training, timeout=120000)
    result = widget.training_panel.result_layer
    assert result.name != "a denoised"  # napari made the name unique
    assert f"'{result.name}'" in widget.training_panel.status_label.text()


def test_threshold_slider_is_logarithmic_and_marks_the_suggestion(make_napari_viewer, qtbot):
    from napari_nsn2n._napari.widgets.threshold_slider import HIGH, to_position

    viewer = make_napari_viewer()
    viewer.add_image(stack(), name="noisy")
    widget = open_widget(viewer)
    masks = widget.mask_panel
    slider = masks.threshold_slider
    # the useful range 0.002..0.03 covers a good part of the travel, not its first 15 %
    travel = (to_position(0.03) - to_position(0.002)) / slider.slider.maximum()
    assert travel > 0.35
    masks.lpf_button.click()
    qtbot.waitUntil(lambda: masks.mask is not None, timeout=30000)
    suggestion = widget.state.differences.suggest_threshold(widget.settings_panel.train_config())
    assert slider.suggestion == pytest.approx(suggestion)
    assert slider.value() == pytest.approx(suggestion, abs=1e-6)  # no choice yet: suggested
    assert slider.slider.mark == to_position(suggestion)
    slider.slider.setValue(slider.slider.maximum())
    assert slider.value() == pytest.approx(HIGH)
    assert f"th = {HIGH:.4f}" in masks.fraction_label.text()


def test_removing_the_input_during_the_lpf_says_so(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer = viewer.add_image(stack((40, 96, 96)), name="long")
    widget = open_widget(viewer)
    masks = widget.mask_panel
    masks.lpf_button.click()
    assert masks.lpf_progress.isVisibleTo(widget)
    viewer.layers.remove(layer)
    assert "was removed" in masks.fraction_label.text()
    qtbot.waitUntil(lambda: not widget.state.lpf_running, timeout=60000)
    assert "'long' was removed" in masks.fraction_label.text()
    assert not masks.lpf_progress.isVisibleTo(widget)


def test_lpf_progress_is_hidden_before_a_run_and_shown_in_the_activity_dock(
    make_napari_viewer, qtbot
):
    viewer = make_napari_viewer()
    viewer.add_image(stack((12, 48, 48)), name="noisy")
    widget = open_widget(viewer)
    masks = widget.mask_panel
    masks.lowpass._activity.delay_s = 0.0  # shown at once, however short this LPF is
    assert not masks.lpf_progress.isVisibleTo(widget)  # no "LPF 0/100" before anything ran
    seen: list[str] = []
    progress._all_instances.events.changed.connect(
        lambda event: seen.extend(str(p.desc) for p in event.added)
    )
    masks.lpf_button.click()
    qtbot.waitUntil(lambda: masks.mask is not None, timeout=30000)
    assert any("low-pass" in desc for desc in seen)


def test_a_stage_shows_in_the_activity_dock_only_once_it_has_run_a_while(make_napari_viewer):
    from napari_nsn2n._napari.widgets.common import Activity

    make_napari_viewer()
    for delay_s, expected in ((0.0, True), (3600.0, False)):
        activity = Activity(f"stage after {delay_s} s", delay_s=delay_s)
        for done in range(1, 4):
            activity.update(done, 10)
        shown = [str(p.desc) for p in progress._all_instances]
        assert (f"stage after {delay_s} s" in shown) is expected
        activity.close()
        assert f"stage after {delay_s} s" not in [str(p.desc) for p in progress._all_instances]


def test_progress_events_reach_the_gui_at_most_ten_times_a_second():
    from napari_nsn2n._napari.workers import throttle_progress
    from napari_nsn2n.events import StageProgress

    ticks = iter(i * 0.01 for i in range(10_000))  # each event 10 ms after the last
    events = [StageProgress("lowpass", i, 200) for i in range(1, 201)] + ["result"]
    passed = list(throttle_progress(iter(events), interval_s=0.1, clock=lambda: next(ticks)))
    done = [e.done for e in passed if isinstance(e, StageProgress)]
    assert 18 <= len(done) <= 22  # 2 s of events at 10 per second
    assert done[0] == 1 and done[-1] == 200 and done == sorted(done)
    assert passed[-1] == "result"
    held = list(throttle_progress(iter([*events[:5], "result"]), 0.1, clock=lambda: 0.0))
    assert held == [events[0], events[4], "result"]  # the latest held one precedes the result


def _train_hu_model(viewer, qtbot):
    """A tiny model trained on a stack in HU-like units (about -100 to 700)."""
    viewer.add_image(stack() * 1000 - 200, name="ct")
    widget = open_widget(viewer)
    _fast(widget, preview_every=0)
    widget.training_panel.train_button.click()
    qtbot.waitUntil(lambda: widget.state.model is not None, timeout=120000)
    qtbot.waitUntil(lambda: not widget.state.training, timeout=30000)
    return widget


def test_apply_to_a_stack_in_other_units_renormalises_and_warns(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget = _train_hu_model(viewer, qtbot)
    assert widget.state.model.meta["intensity_range"][1] > 400
    mri = viewer.add_image(stack(seed=5), name="mri")  # in [0, 1]
    widget.input_panel.select_layer("mri")
    models = widget.model_panel
    assert models.scaling.currentText() == "auto"
    widget.settings_panel.keep_structure.setChecked(False)  # compare what the network does
    warnings_before = len(notification_manager.records)
    models.apply_button.click()
    qtbot.waitUntil(lambda: "mri denoised (model)" in viewer.layers, timeout=60000)
    qtbot.waitUntil(lambda: not widget.state.applying, timeout=30000)
    assert models.last_renormalized is True
    assert "own range" in models.status_label.text()
    messages = [str(n.message) for n in notification_manager.records[warnings_before:]]
    assert any("other units" in m for m in messages)
    result = viewer.layers["mri denoised (model)"].data
    assert models.apply_progress.maximum() == mri.data.shape[0]  # the bar counted the slices
    assert np.corrcoef(result.ravel(), mri.data.ravel())[0, 1] > 0.5  # the image, not a blank
    assert result.std() > 0.3 * mri.data.std()
    # with the training stack's scaling the values land far outside what the model saw
    models.scaling.setCurrentText("training stack's")
    viewer.layers.remove("mri denoised (model)")
    models.apply_button.click()
    qtbot.waitUntil(lambda: "mri denoised (model)" in viewer.layers, timeout=60000)
    forced = viewer.layers["mri denoised (model)"].data
    assert models.last_renormalized is False
    assert np.abs(forced - mri.data).mean() > 5 * np.abs(result - mri.data).mean()


def test_apply_can_be_cancelled(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget = _train_hu_model(viewer, qtbot)
    viewer.add_image(stack((60, 32, 32), seed=4) * 1000 - 200, name="more")
    widget.input_panel.select_layer("more")
    models = widget.model_panel
    models.apply_button.click()
    assert models.cancel_button.isEnabled() and not models.apply_button.isEnabled()
    models.cancel_button.click()
    qtbot.waitUntil(lambda: not widget.state.applying, timeout=60000)
    assert "more denoised (model)" not in viewer.layers
    assert "cancelled" in models.status_label.text()
    assert models.apply_button.isEnabled()


@pytest.mark.parametrize("screen", [(1366, 768), (1600, 1000)])
def test_the_dock_fits_the_screen_with_every_section_expanded(make_napari_viewer, qtbot, screen):
    from qtpy.QtWidgets import QApplication

    viewer = make_napari_viewer(show=True)
    viewer.add_image(stack(), name="noisy")
    widget = open_widget(viewer)
    window = widget.window()
    width, height = screen
    window.resize(width, height - 40)  # a title bar and a panel take the rest
    widget.settings_panel.expand(animate=False)
    for _ in range(5):
        QApplication.processEvents()
    assert window.height() <= height and window.minimumSizeHint().height() <= height - 40
    bottom = widget.mapTo(window, widget.rect().bottomLeft()).y()
    assert bottom <= window.height()
    status = window.statusBar()
    assert status.isVisible() and status.geometry().bottom() <= window.height()
    # every section can be scrolled to
    widget.scroll_area.ensureWidgetVisible(widget.model_panel.apply_button)
    QApplication.processEvents()
    assert widget.model_panel.apply_button.visibleRegion().boundingRect().height() > 0


def test_loss_plot_shows_every_term_relative_and_the_held_out_curve(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(stack(), name="noisy")
    widget = open_widget(viewer)
    _fast(widget, epochs=2, validation=10.0, validate_every=8)
    widget.training_panel.loss_plot.smooth.setValue(0.0)  # raw values
    training = widget.training_panel
    training.train_button.click()
    qtbot.waitUntil(lambda: not widget.state.training, timeout=400000)
    plot = training.loss_plot
    assert plot.n_validations >= 2 and plot.best_step is not None
    for key in ("loss", "recon", "ic", "held-out"):  # default: each on its own range
        _, y = plot.curve_data(key)
        assert y.min() == pytest.approx(0.0) and y.max() == pytest.approx(1.0), key
    plot.scale_combo.setCurrentText("relative")
    for key in ("loss", "recon", "ic"):  # every term starts at 1 and can be seen to move
        x, y = plot.curve_data(key)
        assert len(x) >= plot.n_points - 2 and y[0] == pytest.approx(1.0), key
        assert y.min() < 0.999 or y.max() > 1.001, key
    x, y = plot.curve_data("held-out")
    assert len(x) == plot.n_validations
    assert "held-out" in training.status_label.text() or "done" in training.status_label.text()
    plot.scale_combo.setCurrentText("absolute")
    _, ic = plot.curve_data("ic")
    _, total = plot.curve_data("loss")
    assert ic.max() < total.max()  # raw values: IC is orders of magnitude below


def test_a_run_with_the_stop_rule_ends_itself_when_the_held_out_loss_stops_falling(
    make_napari_viewer, qtbot
):
    viewer = make_napari_viewer()
    viewer.add_image(stack(), name="noisy")
    widget = open_widget(viewer)
    panel = widget.settings_panel
    panel.lr_schedule.setCurrentText("plateau")  # the quick preset's rule, typed in
    _fast(widget, epochs=400, validation=5.0, patience=3, validate_every=2)
    config = panel.train_config()
    assert (config.stop_patience, config.lr_schedule, config.validation_fraction) == (
        3, "plateau", 0.05,
    )  # fmt: skip
    widget.training_panel.train_button.click()
    qtbot.waitUntil(lambda: not widget.state.training, timeout=400000)
    meta = widget.state.model.meta
    assert meta["stopped_by_rule_at"] is not None
    assert meta["steps"] < widget.training_panel.started.total_steps
    assert "stopped by the held-out rule" in widget.training_panel.status_label.text()
    panel.patience.setValue(0)  # no stop rule: the plateau schedule gives way to late
    assert (panel.train_config().stop_patience, panel.train_config().lr_schedule) == (None, "late")
