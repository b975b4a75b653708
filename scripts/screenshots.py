"""Pictures of the plugin for the docs, from the real napari window (needs an X server).

    xvfb-run -a -s "-screen 0 1366x768x24" python scripts/screenshots.py
    xvfb-run -a -s "-screen 0 1366x768x24" python scripts/screenshots.py --modalities
    xvfb-run -a -s "-screen 0 1366x768x24" python scripts/screenshots.py --latency

The first writes docs/images/widget_mask.png (the CT sample after the LPF: W mask at the
suggested th), widget_training.png (mid-training: loss and held-out curves, preview) and
widget_result.png (the end), each of the whole 1366 x 768 window. ``--modalities`` writes
docs/images/modalities.png: for the CT, MRI and microscopy samples the same slice noisy |
denoised | W mask after a short real training run each. ``--latency`` measures the time from a
threshold change to the redrawn mask on a 100 x 512 x 512 stack.
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
SCREEN = (1366, 768)


def _pump(app, seconds: float = 0.0, until=None, timeout: float = 1800.0) -> None:
    end = time.monotonic() + (seconds if until is None else timeout)
    while time.monotonic() < end:
        app.processEvents()
        if until is not None and until():
            return
        time.sleep(0.01)


def _viewer():
    import napari

    viewer = napari.Viewer(show=True)
    viewer.window.resize(*SCREEN)
    return viewer


def _dock(viewer):
    _, widget = viewer.window.add_plugin_dock_widget("napari-nsn2n", "NS-N2N denoising")
    return widget


def _shot(viewer, app, name: str) -> None:
    _pump(app, 0.5)
    viewer.window.screenshot(str(OUT / name), canvas_only=False, flash=False)
    print("wrote", name)


def screenshots(min_steps: int) -> None:
    from qtpy.QtWidgets import QApplication

    OUT.mkdir(parents=True, exist_ok=True)
    viewer = _viewer()
    app = QApplication.instance()
    t0 = time.perf_counter()
    (layer,) = viewer.open_sample("napari-nsn2n", "ct")
    print(f"CT sample {layer.data.shape} in {time.perf_counter() - t0:.1f} s")
    widget = _dock(viewer)
    settings = widget.settings_panel
    settings.epochs.setValue(1)  # the run is min_steps long
    settings.min_steps.setValue(min_steps)
    settings.validation.setValue(5.0)
    settings.validate_every.setValue(25)
    settings.preview_every.setValue(10)
    viewer.dims.set_current_step(0, layer.data.shape[0] // 2)
    masks = widget.mask_panel
    t0 = time.perf_counter()
    masks.lpf_button.click()
    _pump(app, until=lambda: masks.mask is not None and not widget.state.lpf_running)
    print(f"LPF in {time.perf_counter() - t0:.1f} s; {masks.fraction_label.text()}")
    masks.suggest_button.click()
    _pump(app, until=lambda: not masks.mask.busy)
    _shot(viewer, app, "widget_mask.png")

    viewer.layers["W mask"].visible = False
    layer.visible = False
    training = widget.training_panel
    training.train_button.click()
    _pump(
        app,
        until=lambda: (
            training.n_previews >= 3
            and training.loss_plot.n_points >= 40
            and training.loss_plot.n_validations >= 2
        ),
    )
    widget.scroll_area.ensureWidgetVisible(training.loss_plot)
    _shot(viewer, app, "widget_training.png")
    print(training.status_label.text())

    _pump(app, until=lambda: not widget.state.training)
    viewer.layers.selection.active = training.result_layer
    widget.scroll_area.ensureWidgetVisible(widget.model_panel)
    _shot(viewer, app, "widget_result.png")
    print(training.status_label.text())
    widget.cleanup()
    viewer.close()


def _grey(image: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """``image`` in [0, 1] on ``window`` (low, high), as RGB."""
    lo, hi = window
    grey = np.clip((np.asarray(image, dtype=np.float32) - lo) / max(hi - lo, 1e-12), 0, 1)
    return np.repeat(grey[..., None], 3, axis=-1)


def modalities(min_steps: int, slices: int) -> None:
    """noisy | denoised | W mask of the centre of the middle slice of each sample (one row per
    modality; CT on the soft-tissue window, the others on the clean slice's 1-99 % range), after a
    run of ``min_steps`` steps each."""
    from napari_nsn2n.config import TrainConfig
    from napari_nsn2n.display import CT_WINDOW
    from napari_nsn2n.method.masks import matched
    from napari_nsn2n.pipeline import compute_differences, denoise
    from napari_nsn2n.samples import SAMPLE_SHAPES, SAMPLES

    titles = {"ct": "CT (HU)", "mri": "MRI (Rician)", "microscopy": "Microscopy (photons)"}
    rows = []
    for key, make in SAMPLES.items():
        t0 = time.perf_counter()
        shape = (min(slices, SAMPLE_SHAPES[key][0]), *SAMPLE_SHAPES[key][1:])
        sample = make(shape)
        differences = compute_differences(sample.noisy, axis=0)
        config = TrainConfig.preset("fast", epochs=1, min_steps=min_steps, device="cpu")
        denoised, model = denoise(
            sample.noisy, config=config, differences=differences, axis=0, return_model=True
        )
        index = shape[0] // 2
        h, w = sample.clean.shape[1:]
        crop = (slice(h // 4, 3 * h // 4), slice(w // 4, 3 * w // 4))  # the centre, magnified
        clean = np.asarray(sample.clean[index], dtype=np.float32)[crop]
        window = CT_WINDOW if key == "ct" else tuple(np.percentile(clean, (1, 99)))
        noisy = _grey(np.asarray(sample.noisy[index])[crop], window)
        unmatched = ~matched(differences.differences[index][crop], model.threshold)
        overlay = noisy.copy()
        overlay[unmatched] = 0.35 * overlay[unmatched] + 0.65 * np.array([1.0, 0.1, 0.85])
        images = [noisy, _grey(np.asarray(denoised[index])[crop], window), overlay]
        rows.append((titles[key], images, model.threshold))
        print(
            f"{key}: {shape}, th {model.threshold:.4f}, {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        _save_modalities(rows)


def _save_modalities(rows: list) -> None:
    """The rows (title, [noisy, denoised, mask] RGB images, th) as docs/images/modalities.png."""
    from PIL import Image, ImageDraw, ImageFont

    size, gap, head = 256, 6, 22
    names = ("noisy", "NS-N2N denoised", "W mask (magenta: W = 0)")
    canvas = Image.new(
        "RGB", (3 * size + 4 * gap + 150, len(rows) * (size + gap) + head + gap), (30, 32, 38)
    )
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=15)
    for c, name in enumerate(names):
        draw.text((150 + gap + c * (size + gap), 3), name, fill=(230, 230, 230), font=font)
    for r, (title, images, th) in enumerate(rows):
        top = head + r * (size + gap)
        draw.text((8, top + size // 2 - 18), title, fill=(230, 230, 230), font=font)
        draw.text((8, top + size // 2 + 2), f"th {th:.4f}", fill=(170, 170, 170), font=font)
        for c, image in enumerate(images):
            tile = Image.fromarray((255 * image).astype(np.uint8)).resize(
                (size, size), Image.NEAREST
            )
            canvas.paste(tile, (150 + gap + c * (size + gap), top))
    OUT.mkdir(parents=True, exist_ok=True)
    canvas.save(OUT / "modalities.png")
    print(f"wrote modalities.png ({len(rows)} rows)", flush=True)


def latency(shape: tuple[int, int, int] = (100, 512, 512), repeats: int = 30) -> None:
    from qtpy.QtWidgets import QApplication

    from napari_nsn2n.method.masks import PairDifferences
    from napari_nsn2n.stack import SliceLayout

    viewer = _viewer()
    app = QApplication.instance()
    rng = np.random.default_rng(0)
    viewer.add_image(rng.random(shape, dtype=np.float32), name="stack")
    widget = _dock(viewer)
    masks = widget.mask_panel
    _pump(app, 0.5)
    layout = SliceLayout(shape, 0)
    diffs = PairDifferences(
        (rng.random((shape[0] - 1, *shape[1:]), dtype=np.float32) * 0.05),
        layout.pair_starts(),
        layout,
        masks.lowpass_settings(),
    )
    masks.cache[masks.source_key()] = diffs  # as if the LPF worker had delivered it
    masks.show_cached()
    viewer.dims.set_current_step(0, shape[0] // 2)
    _pump(app, 1.0)
    slider = masks.threshold_slider
    times, slot_times = [], []
    last_change = time.perf_counter()
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
    _pump(app, until=lambda: not masks.mask.busy)
    fill = time.perf_counter() - last_change
    assert np.array_equal(viewer.layers["W mask"].data, diffs.mask_volume(slider.value()))
    print(
        f"slider -> mask on {shape}, {repeats} changes: the slot median "
        f"{statistics.median(slot_times):.1f} ms (max {max(slot_times):.1f}); slot + repaint "
        f"median {statistics.median(times):.1f} ms (max {max(times):.1f}); whole-volume fill "
        f"done {fill * 1000:.0f} ms after the last change (incl. the debounce)"
    )
    widget.cleanup()
    viewer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", action="store_true", help="measure slider -> mask latency")
    parser.add_argument("--modalities", action="store_true", help="write modalities.png")
    parser.add_argument("--min-steps", type=int, default=300, help="training steps per run")
    parser.add_argument("--slices", type=int, default=16, help="slices per modality sample")
    args = parser.parse_args(argv)
    # keep the user's napari preferences untouched
    os.environ.setdefault("NAPARI_CONFIG", str(Path(tempfile.mkdtemp()) / "settings.yaml"))
    import torch

    torch.set_num_threads(1)
    if args.latency:
        latency()
    elif args.modalities:
        modalities(args.min_steps, args.slices)
    else:
        screenshots(args.min_steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
