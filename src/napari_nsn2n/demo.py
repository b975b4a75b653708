"""The NS-N2N demo: a synthetic noisy stack, denoised in napari or, without a display, headless.

    python -m napari_nsn2n.demo                    # napari with the CT sample and the dock widget
    python -m napari_nsn2n.demo --headless         # the same pipeline without Qt, results in files
    python -m napari_nsn2n.demo --sample mri --epochs 40 --out results/

With a display, napari opens the plugin's sample (``viewer.open_sample("napari-nsn2n", key)``)
and docks the "NS-N2N denoising" widget; training is started from the widget.

Headless (``--headless``, or no display), the engine API runs the same steps: the sample, the
LPF differences and W_i for the sample's suggested threshold (or ``--threshold``), a short
CPU-sized training run (``TrainConfig.preset("fast")``) unless
told otherwise), inference; it writes into ``--out`` the denoised stack (``<key>_denoised.tif``,
float32 with the voxel spacing), the noisy input (``<key>_noisy.tif``) and a PNG of the middle
slice (noisy | denoised | clean, with PSNR), and prints the PSNR before and after.

napari and Qt are imported only on the GUI path, so the headless path runs on a bare server.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import FAST_EPOCHS

PLUGIN = "napari-nsn2n"
WIDGET = "NS-N2N denoising"
SAMPLE_KEYS = ("ct", "mri", "microscopy")
DEFAULT_OUT = Path("nsn2n-demo-output")
# Same sizes as the napari sample data (napari_nsn2n._napari.sample_data); "small" is for tests.
SIZES = {
    "default": {"ct": (32, 192, 192), "mri": (48, 256, 256), "microscopy": (32, 256, 256)},
    "small": {"ct": (8, 64, 64), "mri": (8, 64, 64), "microscopy": (8, 64, 64)},
}
CT_WINDOW = (-160.0, 240.0)


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
    if text.lower() in ("auto", "sample"):
        return text.lower()
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number, 'sample' or 'auto', got {text!r}"
        ) from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("the threshold lives on the [0, 1] normalised scale")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m napari_nsn2n.demo",
        description=(
            "NS-N2N demo on a synthetic noisy stack: napari with the denoising widget, or "
            "(--headless / no display) the whole pipeline on the CPU with results written to files."
        ),
    )
    parser.add_argument(
        "--sample", choices=SAMPLE_KEYS, default="ct", help="which synthetic stack (default: ct)"
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
        type=_positive,
        help=f"training epochs (headless default: {FAST_EPOCHS}, the fast preset; GUI: sets the widget's value)",
    )
    parser.add_argument(
        "--threshold",
        type=_threshold,
        default="sample",
        help="th of Eq. 3: a number on the [0, 1] scale, 'auto', or 'sample' (the sample's "
        "suggested value; default)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    # Hidden: tiny stacks and a tiny network, for the tests.
    parser.add_argument("--size", choices=tuple(SIZES), default="default", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .errors import NSN2NError

    args = build_parser().parse_args(argv)
    try:
        if args.headless or not has_display():
            if not args.headless:
                print("nsn2n-demo: no display found; running headless", file=sys.stderr)
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
    except NSN2NError as exc:
        print(f"nsn2n-demo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nsn2n-demo: interrupted", file=sys.stderr)
        return 130


# ------------------------------------------------------------------------------------ GUI


def run_gui(sample: str = "ct", epochs: int | None = None) -> int:
    """napari with the sample opened through the plugin and the NS-N2N widget docked."""
    import napari

    viewer = napari.Viewer(title="NS-N2N denoising demo")
    viewer.open_sample(PLUGIN, sample)
    try:
        _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    except Exception as exc:  # the viewer stays usable with the sample
        print(f"nsn2n-demo: could not dock the {WIDGET!r} widget: {exc}", file=sys.stderr)
    else:
        spin = getattr(widget, "epochs", None)
        if epochs is not None and spin is not None and hasattr(spin, "setValue"):
            spin.setValue(int(epochs))
            widget.min_steps.setValue(0)  # the epochs asked for, exactly
    napari.run()
    return 0


# ------------------------------------------------------------------------------- headless


def default_config(epochs: int | None = None, size: str = "default", seed: int = 0):
    """The headless demo's training: the fast CPU preset (``TrainConfig.preset("fast")``), or a
    tiny network for ``size="small"`` (tests)."""
    from .config import TrainConfig

    if size == "small":
        return TrainConfig(
            epochs=epochs or 2, base_channels=8, depth=2, patch_size=None, batch_size=4, seed=seed
        )
    overrides = {"epochs": epochs, "min_steps": None} if epochs else {}  # exactly these epochs
    return TrainConfig.preset("fast", seed=seed, **overrides)


def make_sample(key: str, size: str = "default", seed: int = 0):
    """The :class:`~napari_nsn2n.samples.SampleStack` of ``key`` at the demo's size."""
    from .samples import SAMPLES

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
    from .api import run
    from .errors import OutputError
    from .events import Finished
    from .io import Volume, write_volume
    from .progress import ProgressBar
    from .samples import psnr

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
    print(
        f"train   threshold {th}, {config.epochs} epochs"
        + (f" (at least {config.min_steps} steps)" if config.min_steps else "")
        + f", U-Net {config.base_channels} channels, "
        f"patches {config.patch_size or 'whole slices'}, batch {config.batch_size}",
        flush=True,
    )
    result = None
    with ProgressBar(f"nsn2n-demo {sample}", disable=quiet) as bar:
        for event in run(stack.noisy, th, config):
            bar.update(event)
            if isinstance(event, Finished):
                result = event
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


# ------------------------------------------------------------------------------------- PNG


def save_comparison_png(
    path: str | os.PathLike,
    noisy: np.ndarray,
    denoised: np.ndarray,
    clean: np.ndarray,
    index: int | None = None,
    window: tuple[float, float] | None = None,
    roi: np.ndarray | None = None,
    min_width: int = 256,
) -> Path:
    """PNG of slice ``index`` (default: the middle one): noisy | denoised | clean, one grey
    window for all three (``window``, default the clean slice's 0.5-99.5 percentiles), each
    panel labelled with its PSNR against the clean slice (and inside ``roi`` when given)."""
    from PIL import Image, ImageDraw

    from .samples import psnr

    index = noisy.shape[0] // 2 if index is None else int(index)
    panels = [np.asarray(a[index], dtype=np.float64) for a in (noisy, denoised, clean)]
    ref = panels[2]
    data_range = float(ref.max() - ref.min()) or 1.0
    lo, hi = window or tuple(float(v) for v in np.percentile(ref, (0.5, 99.5)))
    if hi <= lo:
        lo, hi = float(ref.min()), float(ref.max()) + 1e-6
    zoom = max(1, math.ceil(min_width / ref.shape[1]))
    mask = None if roi is None else np.asarray(roi[index], dtype=bool)
    labels = []
    for title, panel in (("noisy", panels[0]), ("NS-N2N", panels[1])):
        text = f"{title}  PSNR {psnr(ref, panel, data_range):.1f} dB"
        if mask is not None and mask.any():
            text += f" (tissue {psnr(ref, panel, data_range, mask=mask):.1f})"
        labels.append(text)
    labels.append(f"clean reference (slice {index})")
    font = _font(max(11, min(18, ref.shape[1] * zoom // 22)))
    header = font.size + 10 if hasattr(font, "size") else 22
    gap = 6
    h, w = ref.shape[0] * zoom, ref.shape[1] * zoom
    canvas = Image.new("L", (3 * w + 2 * gap, h + header), color=0)
    draw = ImageDraw.Draw(canvas)
    for k, (panel, label) in enumerate(zip(panels, labels, strict=True)):
        grey = np.clip((panel - lo) / (hi - lo), 0.0, 1.0) * 255.0
        img = Image.fromarray(grey.round().astype(np.uint8), mode="L")
        if zoom > 1:
            img = img.resize((w, h), Image.Resampling.NEAREST)
        x = k * (w + gap)
        canvas.paste(img, (x, header))
        draw.text((x + 4, 4), label, fill=255, font=font)
    path = Path(path)
    canvas.save(path)
    return path


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed bitmap font
        return ImageFont.load_default()


if __name__ == "__main__":
    sys.exit(main())
