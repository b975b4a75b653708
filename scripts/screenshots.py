"""Screenshots of the NS-N2N dock widget in a real napari window (needs an X server).

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python scripts/screenshots.py
    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python scripts/screenshots.py --latency

The first writes docs/images/widget_mask.png (LPF done, threshold set, W mask shown),
widget_training.png (mid-training: loss curve and preview) and widget_result.png (the end).
``--latency`` instead measures the time from a threshold-slider change to the redrawn mask on a
100 x 512 x 512 stack (random differences stand in for the LPF, which does not matter here).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images"


def _pump(app, seconds: float = 0.0, until=None) -> None:
    end = time.monotonic() + seconds
    while True:
        app.processEvents()
        if until is not None and until():
            return
        if until is None and time.monotonic() >= end:
            return
        time.sleep(0.01)


def _viewer():
    import napari

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1400, 900)
    return viewer


def _dock(viewer):
    _, widget = viewer.window.add_plugin_dock_widget("napari-nsn2n", "NS-N2N denoising")
    return widget


def screenshots(shape: tuple[int, int, int], epochs: int) -> None:
    from qtpy.QtWidgets import QApplication

    from napari_nsn2n.samples import ct_stack

    app = QApplication.instance()
    OUT.mkdir(parents=True, exist_ok=True)
    viewer = _viewer()
    app = QApplication.instance()
    t0 = time.perf_counter()
    sample = ct_stack(shape, seed=0)
    print(f"sample {shape} in {time.perf_counter() - t0:.1f} s")
    layer = viewer.add_image(
        sample.noisy,
        name="CT phantom",
        scale=sample.spacing,
        colormap="gray",
        contrast_limits=(-200.0, 250.0),
    )
    widget = _dock(viewer)
    widget.epochs.setValue(epochs)
    widget.batch.setValue(4)
    widget.patch.setValue(64)
    widget.base_channels.setValue(16)
    widget.preview_every.setValue(10)
    widget.device_combo.setCurrentText("auto")
    viewer.dims.set_current_step(0, shape[0] // 2)
    _pump(app, 0.5)

    t0 = time.perf_counter()
    widget.start_lowpass()
    _pump(app, until=lambda: widget._mask is not None and widget._lpf_worker is None)
    print(f"LPF in {time.perf_counter() - t0:.1f} s")
    widget.threshold_slider.setValue(sample.suggested_threshold)
    _pump(app, until=lambda: not widget._mask.busy)
    _pump(app, 0.5)
    viewer.window.screenshot(str(OUT / "widget_mask.png"), canvas_only=False, flash=False)
    print("wrote widget_mask.png:", widget.fraction_label.text())

    widget.settings_box.collapse(animate=False)
    widget.min_steps.setValue(0)  # the screenshot run: exactly --epochs (the default shown above)
    viewer.layers["W mask"].visible = False
    layer.visible = False
    widget.train_button.click()
    _pump(app, until=lambda: widget.n_previews >= 2 and widget.loss_plot.n_points >= 15)
    viewer.window.screenshot(str(OUT / "widget_training.png"), canvas_only=False, flash=False)
    print("wrote widget_training.png:", widget.status_label.text())

    _pump(app, until=lambda: not widget.is_training)
    result = viewer.layers[f"{layer.name} denoised"]
    viewer.layers.selection.active = result
    _pump(app, 0.5)
    viewer.window.screenshot(str(OUT / "widget_result.png"), canvas_only=False, flash=False)
    print("wrote widget_result.png:", widget.status_label.text())
    viewer.close()


def latency(shape: tuple[int, int, int] = (100, 512, 512), repeats: int = 30) -> None:
    from qtpy.QtWidgets import QApplication

    from napari_nsn2n.method.masks import PairDifferences
    from napari_nsn2n.stack import SliceLayout

    viewer = _viewer()
    app = QApplication.instance()
    rng = np.random.default_rng(0)
    data = rng.random(shape, dtype=np.float32)
    viewer.add_image(data, name="stack")
    widget = _dock(viewer)
    _pump(app, 0.5)
    layout = SliceLayout(shape, 0)
    diffs = PairDifferences(
        (rng.random((shape[0] - 1, *shape[1:]), dtype=np.float32) * 0.05),
        layout.pair_starts(),
        layout,
        widget.lowpass_settings(),
    )
    widget._cache[widget._source_key()] = diffs  # as if the LPF worker had delivered it
    widget._show_cached_mask()
    viewer.dims.set_current_step(0, shape[0] // 2)
    _pump(app, 1.0)
    slider = widget.threshold_slider
    times, slot_times = [], []
    for k in range(repeats):
        value = 0.005 + 0.001 * (k % 40)
        t0 = time.perf_counter()
        slider.setValue(value)  # slot: compare + write the shown slice + labels refresh
        t1 = time.perf_counter()
        app.processEvents()  # the canvas (and widget) repaint
        times.append((time.perf_counter() - t0) * 1000)
        slot_times.append((t1 - t0) * 1000)
        last_change = t0
        _pump(app, 0.05)
    labels = viewer.layers["W mask"]
    shown = shape[0] // 2
    expected = np.where(diffs.differences[shown] <= np.float32(slider.value()), 1, 2)
    assert np.array_equal(labels.data[shown], expected)
    _pump(app, until=lambda: not widget._mask.busy)
    fill = time.perf_counter() - last_change
    assert np.array_equal(labels.data, diffs.mask_volume(slider.value()))
    canvas = viewer.window._qt_viewer.canvas._scene_canvas
    redraw = []
    for _ in range(10):
        t0 = time.perf_counter()
        canvas.update()
        app.processEvents()
        redraw.append((time.perf_counter() - t0) * 1000)
        _pump(app, 0.05)
    print(
        f"slider -> mask on {shape}, {repeats} changes: the widget's slot (compare the shown "
        f"slice, write it into the labels, refresh the layer) median "
        f"{statistics.median(slot_times):.1f} ms (max {max(slot_times):.1f}); slot + repaint "
        f"median {statistics.median(times):.1f} ms (max {max(times):.1f}); a bare canvas "
        f"redraw alone takes {statistics.median(redraw):.1f} ms on this GL; whole-volume fill "
        f"done {fill * 1000:.0f} ms after the last change (incl. the 200 ms debounce)"
    )
    viewer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", action="store_true", help="measure slider -> mask latency")
    parser.add_argument("--shape", type=int, nargs=3, default=(24, 192, 192))
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args(argv)
    # keep the user's widget settings untouched
    os.environ.setdefault(
        "NAPARI_NSN2N_SETTINGS", str(Path(tempfile.gettempdir()) / "nsn2n-screenshots.ini")
    )
    if args.latency:
        latency()
    else:
        screenshots(tuple(args.shape), args.epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
