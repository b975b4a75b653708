"""``nsn2n demo``: a synthetic noisy stack denoised in napari or, without a display, headless.

    nsn2n demo                      # napari with the CT sample and the dock widget
    nsn2n demo --headless           # the same pipeline without Qt, results in files
    nsn2n demo --sample mri --epochs 40 --out results/

With a display, napari opens the plugin's sample (``viewer.open_sample("napari-nsn2n", key)``)
and docks the "NS-N2N denoising" widget; training is started from the widget. Headless, the
pipeline runs the same steps on the CPU preset and writes into ``--out`` the denoised stack, the
noisy input and a PNG of the middle slice (noisy | denoised | clean, with PSNR). napari and Qt
are imported only on the GUI path, so the headless path runs on a bare server.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..samples import SAMPLE_SHAPES
from . import options

PLUGIN = "napari-nsn2n"
WIDGET = "NS-N2N denoising"
DEFAULT_OUT = Path("nsn2n-demo-output")
# "default": the napari sample sizes; "small" is for tests
SIZES = {
    "default": dict(SAMPLE_SHAPES),
    "small": {"ct": (8, 64, 64), "mri": (8, 64, 64), "microscopy": (8, 64, 64)},
}


@dataclass
class DemoResult:
    """What the headless demo produced."""

    denoised_path: Path
    noisy_path: Path
    png_path: Path
    psnr_noisy: float
    psnr_denoised: float
    threshold: float
    elapsed_s: float


def has_display() -> bool:
    """True where a GUI can open: always on Windows/macOS, with DISPLAY/WAYLAND_DISPLAY on Linux."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _threshold(text: str) -> float | str:
    if text.lower() == "sample":
        return "sample"
    return options.threshold(text)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        help="napari with the widget on a synthetic stack, or the same run headless",
        description=(
            "NS-N2N demo on a synthetic noisy stack: napari with the denoising widget, or "
            "(--headless / no display) the whole pipeline on the CPU with results written to files."
        ),
    )
    parser.add_argument(
        "--sample", choices=tuple(SAMPLE_SHAPES), default="ct", help="which stack (default: ct)"
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="no GUI: train with the engine and write the results (default when no display)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"output folder of the headless run (default: ./{DEFAULT_OUT})",
    )
    parser.add_argument(
        "--epochs",
        type=options.positive,
        help="training epochs, exactly (default: the CPU preset, at least 1500 steps; GUI: "
        "sets the widget's value)",
    )
    parser.add_argument(
        "--threshold",
        type=_threshold,
        default="sample",
        help="th of Eq. 3: a number on the [0, 1] scale, 'auto', or 'sample' (the sample's "
        "suggested value; default)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    # Hidden: tiny stacks and a tiny network, for the tests.
    parser.add_argument("--size", choices=tuple(SIZES), default="default", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    if args.headless or not has_display():
        if not args.headless:
            print("nsn2n demo: no display found; running headless", file=sys.stderr)
        run_headless(
            sample=args.sample,
            out=args.out,
            epochs=args.epochs,
            threshold=args.threshold,
            size=args.size,
            seed=args.seed,
            quiet=args.quiet,
        )
        return 0
    return run_gui(sample=args.sample, epochs=args.epochs)


# ------------------------------------------------------------------------------------ GUI


def run_gui(sample: str = "ct", epochs: int | None = None) -> int:
    """napari with the sample opened through the plugin and the NS-N2N widget docked."""
    import napari

    viewer = napari.Viewer(title="NS-N2N denoising demo")
    viewer.open_sample(PLUGIN, sample)
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    if epochs is not None:
        widget.settings_panel.epochs.setValue(int(epochs))
        widget.settings_panel.min_steps.setValue(0)  # the epochs asked for, exactly
    napari.run()
    return 0


# ------------------------------------------------------------------------------- headless


def default_config(epochs: int | None = None, size: str = "default", seed: int = 0):
    """The headless demo's training: the fast CPU preset (``TrainConfig.preset("fast")``), or a
    tiny network for ``size="small"`` (tests)."""
    from ..config import TrainConfig

    if size == "small":
        return TrainConfig(
            epochs=epochs or 2, base_channels=8, depth=2, patch_size=None, batch_size=4, seed=seed
        )
    overrides = {"epochs": epochs, "min_steps": None} if epochs else {}  # exactly these epochs
    return TrainConfig.preset("fast", seed=seed, **overrides)


def make_sample(key: str, size: str = "default", seed: int = 0):
    """The :class:`~napari_nsn2n.samples.SampleStack` of ``key`` at the demo's size."""
    from ..samples import SAMPLES

    if key not in SAMPLES:
        raise ValueError(f"unknown sample {key!r}; use one of {', '.join(SAMPLES)}")
    return SAMPLES[key](shape=SIZES[size][key], seed=seed)


def run_headless(
    sample: str = "ct",
    out: str | os.PathLike = DEFAULT_OUT,
    epochs: int | None = None,
    threshold: float | str = "sample",
    size: str = "default",
    seed: int = 0,
    quiet: bool = False,
) -> DemoResult:
    """The demo without Qt: sample -> W_i -> training -> inference -> files in ``out``."""
    from ..display import CT_WINDOW
    from ..errors import OutputError
    from ..figures import save_comparison_png
    from ..io import Volume, write_volume
    from ..metrics import psnr
    from ..pipeline import RunRequest, run
    from ..pipeline.progress import ProgressReporter

    started = time.perf_counter()
    out = Path(out).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {out}: {exc}") from None

    t0 = time.perf_counter()
    stack = make_sample(sample, size, seed)
    print(
        f"sample  {stack.name}: shape {stack.noisy.shape} {stack.noisy.dtype}, spacing "
        f"{_fmt_spacing(stack.spacing)}, generated in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    th = stack.suggested_threshold if threshold == "sample" else threshold
    config = default_config(epochs, size, seed)
    reporter = ProgressReporter(f"nsn2n demo {sample}", quiet=quiet)
    result = reporter.follow(run(RunRequest(stack.noisy, threshold=th, config=config)))
    if result is None:
        raise RuntimeError("the run ended without a result")
    resolved_th = result.model.threshold if result.model.threshold is not None else th
    denoised = np.asarray(result.denoised, dtype=np.float32)
    data_range = float(stack.clean.max() - stack.clean.min())
    psnr_noisy = psnr(stack.clean, stack.noisy, data_range)
    psnr_denoised = psnr(stack.clean, denoised, data_range)
    roi = soft_tissue(stack.clean) if sample == "ct" else None

    unit = "µm" if sample == "microscopy" else "mm"
    meta = {"unit": unit}
    denoised_path = write_volume(
        out / f"{sample}_denoised.tif",
        Volume(denoised, "ZYX", stack.spacing, metadata=meta),
        overwrite=True,
    )
    noisy_path = write_volume(
        out / f"{sample}_noisy.tif",
        Volume(np.asarray(stack.noisy), "ZYX", stack.spacing, metadata=meta),
        overwrite=True,
    )
    window = CT_WINDOW if sample == "ct" else None
    png_path = out / f"{sample}_comparison.png"
    save_comparison_png(png_path, stack.noisy, denoised, stack.clean, window=window, roi=roi)

    elapsed = time.perf_counter() - started
    print(
        f"PSNR    noisy {psnr_noisy:.2f} dB -> denoised {psnr_denoised:.2f} dB "
        f"({psnr_denoised - psnr_noisy:+.2f} dB; whole stack, range of the clean reference)",
        flush=True,
    )
    if roi is not None and roi.any():
        before = psnr(stack.clean, stack.noisy, data_range, mask=roi)
        after = psnr(stack.clean, denoised, data_range, mask=roi)
        print(
            f"        soft tissue (-100..200 HU): {before:.2f} dB -> {after:.2f} dB "
            f"({after - before:+.2f} dB)",
            flush=True,
        )
    print(f"wrote   {denoised_path}\n        {noisy_path}\n        {png_path}", flush=True)
    print(f"done    in {elapsed:.1f} s (training + inference {result.elapsed_s:.1f} s)", flush=True)
    return DemoResult(
        denoised_path=Path(denoised_path),
        noisy_path=Path(noisy_path),
        png_path=png_path,
        psnr_noisy=psnr_noisy,
        psnr_denoised=psnr_denoised,
        threshold=float(resolved_th),
        elapsed_s=elapsed,
    )


def soft_tissue(clean_hu: np.ndarray) -> np.ndarray:
    """Soft tissue of a CT reference: -100..200 HU, eroded in-plane by 2 px (off the skull)."""
    from scipy import ndimage

    mask = (clean_hu > -100) & (clean_hu < 200)
    return ndimage.binary_erosion(mask, structure=np.ones((1, 5, 5), bool))


def _fmt_spacing(spacing: Sequence[float]) -> str:
    return " x ".join(f"{s:.3g}" for s in spacing)
