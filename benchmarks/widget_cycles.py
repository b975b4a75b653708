"""The dock widget over repeated train / stop cycles: memory growth and event-loop stalls.

    xvfb-run -a -s "-screen 0 1366x768x24" python benchmarks/widget_cycles.py --cycles 10

Opens a real napari viewer with the widget docked (as the Plugins menu does), then ``--cycles``
times: Train on a small stack, Stop after a few steps, wait for the result layer and remove it.
Prints the resident memory after each cycle (growth per cycle over the last half, once caches
are warm), the same for napari alone adding and removing a layer of that shape as often, and the longest gap between two ticks of a 10 ms timer on the GUI thread while the LPF
starts and while a result layer is added (how long the window froze).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from pathlib import Path

import numpy as np


def growth_per_cycle(rss: list[float]) -> float:
    """MiB per cycle over the last half of the cycles (caches are warm by then): the slope of a
    least-squares line, less swayed by one cycle's allocator noise than first-to-last."""
    half = rss[len(rss) // 2 :]
    if len(half) < 2:
        return float("nan")
    return float(np.polyfit(np.arange(len(half)), half, 1)[0])


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Heartbeat:
    """The longest gap between ticks of a 10 ms QTimer inside ``watch()`` windows."""

    def __init__(self) -> None:
        from qtpy.QtCore import QTimer

        self.last = time.perf_counter()
        self.longest = 0.0
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last)
        self.last = now

    def reset(self) -> None:
        self.last, self.longest = time.perf_counter(), 0.0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--slices", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5, help="steps before Stop in each cycle")
    parser.add_argument("--residual", action="store_true", help="also add the residual layer")
    args = parser.parse_args(argv)

    import napari
    from qtpy.QtWidgets import QApplication

    from napari_nsn2n._napari.widgets.common import MASK_ROLE, role_of
    from napari_nsn2n.samples import ct_stack

    def pump(until, timeout: float = 600.0) -> None:
        end = time.perf_counter() + timeout
        while not until() and time.perf_counter() < end:
            QApplication.processEvents()
            time.sleep(0.005)

    viewer = napari.Viewer(show=True)
    viewer.window.resize(1366, 768)
    stack = ct_stack((args.slices, args.size, args.size)).noisy
    layer = viewer.add_image(stack, name="ct")
    _, widget = viewer.window.add_plugin_dock_widget("napari-nsn2n", "NS-N2N denoising")
    settings = widget.settings_panel
    settings.epochs.setValue(50)
    settings.min_steps.setValue(0)
    settings.preview_every.setValue(2)
    settings.residual.setChecked(args.residual)
    beat = Heartbeat()
    slot_seconds: list[float] = []

    beat.reset()
    widget.mask_panel.lpf_button.click()
    pump(lambda: widget.state.differences is not None)
    lpf_stall = beat.longest
    rss, result_stalls = [], []
    training = widget.training_panel
    on_result = training._on_result

    def timed_result(event) -> None:  # the main-thread slot that adds the result layer
        started = time.perf_counter()
        on_result(event)
        slot_seconds.append(time.perf_counter() - started)

    training._on_result = timed_result
    for _ in range(args.cycles):
        training.train_button.click()
        pump(lambda: training.last_step is not None and training.last_step.step >= args.steps)
        training.stop_button.click()
        beat.reset()
        pump(lambda: not widget.state.training)
        result_stalls.append(beat.longest)
        for added in [x for x in viewer.layers if x is not layer and role_of(x) != MASK_ROLE]:
            viewer.layers.remove(added)
        gc.collect()
        pump(lambda: False, timeout=0.5)
        rss.append(rss_mib())
    # napari alone, same process: add an image layer of the result's shape and remove it
    plain = []
    for _ in range(args.cycles):
        added = viewer.add_image(np.zeros_like(stack), name="plain napari layer")
        pump(lambda: False, timeout=0.3)
        viewer.layers.remove(added)
        gc.collect()
        pump(lambda: False, timeout=0.5)
        plain.append(rss_mib())
    growth, plain_growth = growth_per_cycle(rss), growth_per_cycle(plain)
    print(f"stack {stack.shape}, {args.cycles} cycles of train / stop after {args.steps} steps")
    print("RSS after each cycle (MiB):", " ".join(f"{v:.0f}" for v in rss))
    print(
        "RSS after each add / remove of a plain napari layer (MiB):",
        " ".join(f"{v:.0f}" for v in plain),
    )
    print(
        f"growth per cycle over the last half: widget {growth:+.2f} MiB, "
        f"napari's own layer add / remove {plain_growth:+.2f} MiB"
    )
    print(f"longest GUI stall while the LPF starts and runs: {lpf_stall * 1000:.0f} ms")
    print(
        "longest GUI stall while a result arrives (per cycle, median / max): "
        f"{statistics.median(result_stalls) * 1000:.0f} / {max(result_stalls) * 1000:.0f} ms"
    )
    print(
        "time in the result slot (add the layer, drop the preview; median / max): "
        f"{statistics.median(slot_seconds) * 1000:.0f} / {max(slot_seconds) * 1000:.0f} ms"
    )
    widget_ok = np.isfinite(rss).all() and len(slot_seconds) == args.cycles
    viewer.close()
    raise SystemExit(0 if widget_ok else 1)


if __name__ == "__main__":
    main()
