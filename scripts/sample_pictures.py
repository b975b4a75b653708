"""The pictures of docs/samples.md: for each menu sample a montage of slices (noisy, clean, clean with
its inserts outlined) and the sample opened in a real napari window (needs an X server).

    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python scripts/sample_pictures.py

Writes docs/images/sample_<key>.png (montage) and docs/images/sample_<key>_napari.png (1366 x 768
window) and prints each sample's CPU time and measured noise.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from napari_nsn2n.samples import SAMPLE_SHAPES, SAMPLES, SampleStack

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images"
WINDOWS = {"ct": (-160.0, 240.0)}  # abdominal soft-tissue window; others: percentiles
ROWS = ("noisy", "clean", "clean + inserts (red)")
RED, YELLOW = 254, 255  # palette entries after the greys


def _grey(image: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    low, high = window
    scaled = np.clip((image.astype(np.float64) - low) / (high - low), 0.0, 1.0)
    return (255 * scaled).astype(np.uint8)


def montage(key: str, stack: SampleStack, slices: int = 4) -> Image.Image:
    """Rows noisy / clean / clean with insert outlines, over ``slices`` slices of the stack."""
    window = WINDOWS.get(key) or tuple(np.percentile(stack.clean, (0.5, 99.8)))
    picks = np.linspace(2, stack.noisy.shape[0] - 3, slices).round().astype(int)
    crop = _object_box(stack)
    rows = []
    for row in ROWS:
        tiles = []
        for k in picks:
            source = stack.noisy if row == "noisy" else stack.clean
            index = (_grey(source[k][crop], window).astype(np.uint16) * 253 // 255).astype(np.uint8)
            if row.endswith("(red)") and stack.inserts is not None:
                inserts = stack.inserts[k][crop] > 0
                index[inserts & ~ndimage.binary_erosion(inserts)] = RED
            tiles.append(np.pad(index, ((0, 4), (0, 4))))
        rows.append(np.concatenate(tiles, axis=1))
    # a palette image (254 greys, red, yellow) keeps the file small and the colours exact
    picture = Image.fromarray(np.concatenate(rows, axis=0), mode="P")
    greys = [v * 255 // 253 for v in range(254) for _ in range(3)]
    picture.putpalette([*greys, 255, 40, 40, 255, 255, 0])
    draw = ImageDraw.Draw(picture)
    height, width = tiles[0].shape
    for r, label in enumerate(ROWS):
        draw.text((6, r * height + 4), label, fill=YELLOW)
    for c, k in enumerate(picks):
        draw.text((c * width + 6, 3 * height - 16), f"slice {k}", fill=YELLOW)
    return picture


def _object_box(stack: SampleStack) -> tuple[slice, slice]:
    """In-plane box around the object (body or head; the table left out), a little margin."""
    if stack.tissues is None or stack.tissues.max() == 0:
        return (slice(None), slice(None))
    names = stack.tissue_names
    solid = stack.tissues > 0
    if "table" in names:
        solid &= stack.tissues != names.index("table")
    rows = np.flatnonzero(solid.any(axis=(0, 2)))
    cols = np.flatnonzero(solid.any(axis=(0, 1)))
    return (slice(max(rows[0] - 4, 0), rows[-1] + 5), slice(max(cols[0] - 4, 0), cols[-1] + 5))


def napari_window(key: str, path: Path) -> None:
    """The sample as File > Open Sample opens it, mid-stack, in a 1366 x 768 window."""
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1366, 768)
    (layer,) = viewer.open_sample("napari-nsn2n", key)
    viewer.dims.current_step = (layer.data.shape[0] // 2, 0, 0)
    for _ in range(30):
        QApplication.processEvents()
    viewer.window.screenshot(path=str(path), canvas_only=False, flash=False)
    viewer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-napari", action="store_true", help="montages only (no X server)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for key, make in SAMPLES.items():
        started = time.process_time()
        stack = make(SAMPLE_SHAPES[key])
        seconds = time.process_time() - started
        noise = stack.noisy.astype(np.float64) - stack.clean
        inside = stack.tissues > 0 if stack.tissues is not None else np.ones(noise.shape, bool)
        print(
            f"{key}: {stack.name}, {stack.noisy.shape} {stack.noisy.dtype}, {seconds:.1f} s CPU, "
            f"noise std {noise[inside].std():.3g} {stack.units} (inside the object), "
            f"{len(stack.insert_names)} inserts"
        )
        montage(key, stack).save(OUT / f"sample_{key}.png", optimize=True)
        if not args.no_napari:
            napari_window(key, OUT / f"sample_{key}_napari.png")


if __name__ == "__main__":
    main()
