"""PNG figures of a slice side by side (noisy | denoised | reference), with PSNR labels.

Used by the demo, the README pictures and the model package's cover image. PIL is imported on
use only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .metrics import psnr


def grey_panels(
    panels: Sequence[tuple[str, np.ndarray]],
    window: tuple[float, float],
    min_width: int = 256,
    gap: int = 6,
):
    """A PIL image of 2D ``panels`` (title, image) side by side on one grey ``window``, each
    magnified (nearest neighbour) to at least ``min_width`` pixels and titled above."""
    from PIL import Image, ImageDraw

    lo, hi = window
    first = np.asarray(panels[0][1])
    zoom = max(1, math.ceil(min_width / first.shape[1]))
    font = _font(max(11, min(18, first.shape[1] * zoom // 22)))
    header = font.size + 10 if hasattr(font, "size") else 22
    h, w = first.shape[0] * zoom, first.shape[1] * zoom
    canvas = Image.new("L", (len(panels) * w + (len(panels) - 1) * gap, h + header), color=0)
    draw = ImageDraw.Draw(canvas)
    for k, (label, panel) in enumerate(panels):
        grey = np.clip((np.asarray(panel, np.float64) - lo) / (hi - lo), 0.0, 1.0) * 255.0
        img = Image.fromarray(grey.round().astype(np.uint8), mode="L")
        if zoom > 1:
            img = img.resize((w, h), Image.Resampling.NEAREST)
        x = k * (w + gap)
        canvas.paste(img, (x, header))
        draw.text((x + 4, 4), label, fill=255, font=font)
    return canvas


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
    index = noisy.shape[0] // 2 if index is None else int(index)
    panels = [np.asarray(a[index], dtype=np.float64) for a in (noisy, denoised, clean)]
    ref = panels[2]
    data_range = float(ref.max() - ref.min()) or 1.0
    lo, hi = window or tuple(float(v) for v in np.percentile(ref, (0.5, 99.5)))
    if hi <= lo:
        lo, hi = float(ref.min()), float(ref.max()) + 1e-6
    mask = None if roi is None else np.asarray(roi[index], dtype=bool)
    labels = []
    for title, panel in (("noisy", panels[0]), ("NS-N2N", panels[1])):
        text = f"{title}  PSNR {psnr(ref, panel, data_range):.1f} dB"
        if mask is not None and mask.any():
            text += f" (tissue {psnr(ref, panel, data_range, mask=mask):.1f})"
        labels.append(text)
    labels.append(f"clean reference (slice {index})")
    canvas = grey_panels(list(zip(labels, panels, strict=True)), (lo, hi), min_width)
    path = Path(path)
    canvas.save(path)
    return path


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed bitmap font
        return ImageFont.load_default()
