"""The dock widget on a layer too big to load: a memmap-backed napari layer, LPF and live W mask.

    xvfb-run -a -s "-screen 0 1280x1024x24" python benchmarks/widget_scale.py --slices 600 --size 1024

Writes a uint16 .npy (as benchmarks/scale.py), opens it as a memmap image layer in a real napari
viewer with the NS-N2N widget docked, runs "Compute LPF" through the widget (its worker reads the
layer slice by slice; the differences spill to a temporary file), then moves the threshold and the
shown slice. Prints the time from a threshold change to the shown slice's updated mask, what the
``W mask`` layer is backed by, how many of its slices were written, and the peak anonymous RSS of
the process (file pages of the memmaps excluded: the kernel can drop them).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from scale import anonymous_rss_mib, make_file


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slices", type=int, default=600)
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args(argv)

    import napari
    from qtpy.QtWidgets import QApplication

    from napari_nsn2n._napari.widgets.mask_display import MASK_LAYER

    peak = [0.0]

    def pump(seconds: float = 0.0) -> None:
        end = time.perf_counter() + seconds
        while True:
            QApplication.processEvents()
            peak[0] = max(peak[0], anonymous_rss_mib())
            if time.perf_counter() >= end:
                return
            time.sleep(0.01)

    with tempfile.TemporaryDirectory() as folder:
        t0 = time.perf_counter()
        make_file(Path(folder) / "big.npy", args.slices, args.size)
        source = np.load(Path(folder) / "big.npy", mmap_mode="r")
        print(
            f"file {source.shape} uint16, {source.nbytes / 2**30:.2f} GiB, "
            f"written in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        viewer = napari.Viewer()
        base = anonymous_rss_mib()
        layer = viewer.add_image(source, name="big")
        _, widget = viewer.window.add_plugin_dock_widget("napari-nsn2n", "NS-N2N denoising")
        widget.input_panel.select_layer(layer)
        masks = widget.mask_panel
        pump(1.0)
        print(
            f"viewer + layer + widget: anonymous RSS {anonymous_rss_mib():.0f} MiB "
            f"(viewer alone {base:.0f} MiB)",
            flush=True,
        )
        start = time.perf_counter()
        masks.lpf_button.click()
        last = 0.0
        while widget.state.differences is None or masks.mask is None:
            pump(0.5)
            if time.perf_counter() - last > 60:
                last = time.perf_counter()
                print(
                    f"  LPF {masks.lpf_progress.value()}/{masks.lpf_progress.maximum()} "
                    f"at {last - start:.0f} s, peak anon {peak[0]:.0f} MiB",
                    flush=True,
                )
        lpf_s = time.perf_counter() - start
        diffs = widget.state.differences
        labels = viewer.layers[MASK_LAYER]
        pump(0.5)
        times = []
        for th in (0.005, 0.01, 0.02, 0.04, 0.08, 0.03):
            t = time.perf_counter()
            masks.threshold_slider.setValue(th)
            QApplication.processEvents()
            times.append(1000 * (time.perf_counter() - t))
            pump(0.2)
        for z in (0, args.slices // 3, args.slices - 2):
            viewer.dims.set_current_step(0, z)
            pump(0.2)
        written = sum(bool(labels.data[k].any()) for k in range(labels.data.shape[0]))
        print(
            f"LPF through the widget: {lpf_s:.0f} s ({1000 * lpf_s / args.slices:.0f} ms/slice); "
            f"differences on {type(diffs.differences).__name__} "
            f"({diffs.differences.nbytes / 2**30:.2f} GiB); W mask layer on "
            f"{type(labels.data).__name__}, {written} of {labels.data.shape[0]} slices written; "
            f"threshold -> shown mask {np.median(times):.1f} ms median (max {max(times):.1f}); "
            f"fraction label: {masks.fraction_label.text()!r}; "
            f"peak anonymous RSS {peak[0]:.0f} MiB",
            flush=True,
        )
        widget.cleanup()
        viewer.close()


if __name__ == "__main__":
    main()
