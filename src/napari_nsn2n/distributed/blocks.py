"""Chunked inference: one stack larger than memory denoised region by region on a dask cluster
and written into an OME-Zarr output.

The stack (a 3D file the workers can read lazily: OME-Zarr, ``.npy``, uncompressed TIFF) is cut
into regions of ``slab`` slices, and, where a slice is too large, in-plane tiles. A region
is read with ``overlap`` pixels of context on each side; the network sees the window and only
its core is kept, so the result equals whole-slice inference: the overlap covers the U-Net's
receptive field and windows start on multiples of 2^depth (the pooling grid of the whole
slice). Each region's core is written straight into the output's level-0 array; regions are
whole output chunks, so no two workers ever write the same chunk. The trained model is sent to
every worker once (``Client.scatter(broadcast=True)``) and built there once. Then the pyramid is
computed from level 0 on the same cluster and the folder renamed into place (``io.atomic``).
Models with GroupNorm (per-image statistics) are only approximately tileable.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError, InvalidStackError
from ..events import Event, Finished, StageProgress

DEFAULT_SLAB = 8  # slices per region unless the input's chunks suggest another size
MAX_PLANE_PIXELS = 2048 * 2048  # larger slices are cut into tiles ...
DEFAULT_TILE = 1024  # ... of this side (rounded to the U-Net's multiple)
_MODELS: dict[tuple[int, str], Any] = {}  # the model built on this worker, by bundle and device


@dataclass(frozen=True)
class Region:
    """Slices ``first:last`` and the in-plane core ``y0:y1, x0:x1`` written by one task, with
    the window ``wy0:wy1, wx0:wx1`` read around it."""

    first: int
    last: int
    y0: int
    y1: int
    x0: int
    x1: int
    wy0: int
    wy1: int
    wx0: int
    wx1: int

    @property
    def pixels(self) -> int:
        return (self.last - self.first) * (self.y1 - self.y0) * (self.x1 - self.x0)


def receptive_overlap(depth: int) -> int:
    """Context for an exact core: the receptive-field radius of the U-Net of ``depth`` (two
    3 x 3 convolutions per level, 2 x 2 pooling and up-convolutions: 8 * 2^depth - 6 px),
    rounded up to the pooling multiple 2^depth."""
    return 8 * 2**depth


def _tiles(size: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(core start, core end, window start, window end) along one axis."""
    out = []
    for start in range(0, size, tile):
        end = min(size, start + tile)
        out.append((start, end, max(0, start - overlap), min(size, end + overlap)))
    return out


def plan_regions(
    shape: tuple[int, int, int], slab: int, tile: int | None, overlap: int
) -> list[Region]:
    """Regions covering a (M, H, W) stack: ``slab`` slices by ``tile`` x ``tile`` cores (whole
    slices when ``tile`` is None)."""
    m, h, w = shape
    ys = _tiles(h, tile or h, overlap)
    xs = _tiles(w, tile or w, overlap)
    return [
        Region(first, min(m, first + slab), *y[:2], *x[:2], *y[2:], *x[2:])
        for first in range(0, m, slab)
        for y in ys
        for x in xs
    ]


def default_tile(shape: tuple[int, ...], multiple: int, tile: int | None = None) -> int | None:
    """The tile side (a multiple of ``multiple``), or None for whole slices."""
    if tile is None and shape[-2] * shape[-1] <= MAX_PLANE_PIXELS:
        return None
    side = tile or DEFAULT_TILE
    side = max(multiple, math.ceil(side / multiple) * multiple)
    return None if side >= max(shape[-2:]) else side


def default_slab(data: Any) -> int:
    """The input's own chunking along the slices (1..64), else ``DEFAULT_SLAB``."""
    chunks = getattr(data, "chunks", None)
    first = chunks[0] if chunks else None
    first = first[0] if isinstance(first, tuple) else first  # dask: per-block sizes
    return int(first) if isinstance(first, int | np.integer) and 1 < first <= 64 else DEFAULT_SLAB


@lru_cache(maxsize=4)
def _open_source(source: str) -> Any:
    from ..io import read_volume

    return read_volume(source, mmap=True).data


def _worker_model(bundle: Any) -> tuple[Any, Any]:
    """The network of ``bundle`` on this worker's device, built once per worker."""
    import torch

    from ..device import select_device
    from .worker import this_worker, torch_threads, worker_device

    worker = this_worker()
    device = select_device(worker_device("auto", worker))
    threads = torch_threads(worker, str(device))
    if threads:
        torch.set_num_threads(threads)
    key = (id(bundle), str(device))
    if key not in _MODELS:
        _MODELS.clear()
        _MODELS[key] = bundle.build(device)
    return _MODELS[key], device


def predict_region(
    bundle: Any, source: str, level0: str, region: Region, tta: bool = False
) -> dict[str, float]:
    """Denoise one region of ``source`` and write its core into the zarr array ``level0``
    (runs on a worker)."""
    import zarr

    from ..method.inference import predict_slices

    started = time.perf_counter()
    model, device = _worker_model(bundle)
    r = region
    window = np.asarray(_open_source(source)[r.first : r.last, r.wy0 : r.wy1, r.wx0 : r.wx1])
    denoised = predict_slices(model, bundle.normalizer.forward(window), device, tta=tta)
    core = denoised[:, r.y0 - r.wy0 : r.y1 - r.wy0, r.x0 - r.wx0 : r.x1 - r.wx0]
    target = zarr.open_array(level0, mode="r+")
    target[r.first : r.last, r.y0 : r.y1, r.x0 : r.x1] = bundle.normalizer.inverse(core)
    return {"pixels": r.pixels, "seconds": time.perf_counter() - started}


def denoise_blocks(
    bundle: Any,
    source: str | os.PathLike,
    output: str | os.PathLike,
    client: Any,
    *,
    slab: int | None = None,
    tile: int | None = None,
    overlap: int | None = None,
    tta: bool = False,
    overwrite: bool = False,
    resources: dict[str, float] | None = None,
) -> Iterator[Event]:
    """Denoise the 3D stack at ``source`` with ``bundle`` on ``client``'s workers into the
    OME-Zarr ``output``; yields ``StageProgress("inference", slices, total)`` and then
    ``Finished`` (``denoised``: the output's level 0, lazily). The stack is sliced along its
    first axis; ``slab`` / ``tile`` / ``overlap`` override the region plan."""
    from ..io import check_output_path, read_volume
    from ..io.atomic import atomic_output
    from ..io.omezarr import create_image, finish_pyramid
    from ..io.registry import format_for
    from .cohort import gpu_resources

    started = time.perf_counter()
    target = check_output_path(output, overwrite)
    fmt = format_for(target)
    if fmt is None or fmt.name != "ome-zarr":
        raise FileFormatError(
            f"chunked inference writes OME-Zarr: name the output *.ome.zarr ({target})"
        )
    source = str(Path(source).expanduser().absolute())
    volume = read_volume(source, mmap=True)
    if volume.data.ndim != 3:
        raise InvalidStackError(
            f"chunked inference takes a 3D stack (slices first); {source} has shape {volume.data.shape}"
        )
    shape = tuple(int(s) for s in volume.data.shape)
    multiple = 2**bundle.config.depth
    tile = default_tile(shape, multiple, tile)
    overlap = receptive_overlap(bundle.config.depth) if overlap is None else overlap
    regions = plan_regions(shape, slab or default_slab(volume.data), tile, overlap)
    chunks = (1, tile or shape[1], tile or shape[2])
    resources = resources if resources is not None else gpu_resources(client)
    from distributed import as_completed

    with atomic_output(target.absolute(), overwrite, folder=True) as tmp:
        create_image(tmp, shape, np.float32, "ZYX", chunks)
        model = client.scatter(bundle, broadcast=True, hash=False)
        level0 = str(tmp / "s0")
        futures = [
            client.submit(
                predict_region, model, source, level0, r, tta, pure=False, resources=resources
            )
            for r in regions
        ]
        pixels, shown = 0, -1
        for future in as_completed(futures):
            pixels += future.result()["pixels"]
            done = round(shape[0] * pixels / math.prod(shape))
            if done != shown:
                shown = done
                yield StageProgress("inference", done, shape[0])
        unit = volume.metadata.get("unit")
        finish_pyramid(tmp, "ZYX", volume.spacing, unit, scheduler=client)
    result = read_volume(target).data
    yield Finished(denoised=result, model=bundle, elapsed_s=time.perf_counter() - started)
