"""OME-Zarr (NGFF 0.4 and 0.5, zarr v2 and v3) through ome-zarr-py, an optional dependency.

Reading is lazy: the metadata and a handle on one pyramid level (a ``zarr.Array``, read chunk by
chunk on access, never loaded whole). Scale and units come from the multiscales metadata.

Writing makes level 0 first (:func:`create_image`, then any number of region writes, e.g. from
dask workers), then the pyramid and the multiscales metadata (:func:`finish_pyramid`): each
level is the 2 x 2 in-plane local mean of the one above (``ome_zarr.dask_utils.local_mean``,
exact region by region; z is kept, as ome-zarr does by default), until the smaller side would
drop under ``MIN_LEVEL_SIDE``. The metadata is ome-zarr's (``write_multiscales_metadata`` with
its format's coordinate transformations), not written by hand. ``write_omezarr`` does both for
an array in memory or on disk; outputs go through a temporary folder and a rename
(``io.atomic``), so no half-written image is ever at the output path.

Why ome-zarr-py and not ngff-zarr or iohub: docs/scaling.md (measured). (Over 300 lines: reading,
writing and the pyramid of one format share its metadata helpers.)
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError
from .volume import Volume, default_axes, like_for, read_error

_INSTALL = 'pip install "napari-nsn2n[zarr]"'
MIN_LEVEL_SIDE = 64  # no pyramid level with a side smaller than this (in pixels)
MAX_CHUNK_SIDE = 1024  # level-0 chunks: one slice, tiled in-plane above this side
NGFF_VERSION = "0.5"  # what outputs are written as (zarr v3); 0.4 (zarr v2) on request
_NGFF_UNITS = {
    "mm": "millimeter",
    "millimeter": "millimeter",
    "µm": "micrometer",
    "um": "micrometer",
    "micron": "micrometer",
    "micrometer": "micrometer",
    "nm": "nanometer",
    "nanometer": "nanometer",
    "cm": "centimeter",
    "m": "meter",
}
_OUR_UNITS = {"millimeter": "mm", "micrometer": "µm", "nanometer": "nm", "centimeter": "cm"}
_AXIS_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}


def _libraries() -> tuple[Any, Any]:
    try:
        import ome_zarr
        import zarr
    except ImportError:
        raise FileFormatError(f"OME-Zarr needs ome-zarr and zarr ({_INSTALL})") from None
    return zarr, ome_zarr


def looks_like_omezarr(path: str | Path) -> bool:
    """A folder with zarr metadata (``zarr.json`` for v3, ``.zattrs`` / ``.zgroup`` for v2)."""
    p = Path(path)
    return p.is_dir() and any((p / name).is_file() for name in ("zarr.json", ".zattrs", ".zgroup"))


# -------------------------------------------------------------------------------- reading


def _multiscales(path: Path) -> tuple[Any, Any, Any]:
    """ome-zarr's (location, image node, Multiscales spec) of the image at ``path``."""
    _libraries()
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Multiscales, Reader

    if not looks_like_omezarr(path):
        raise read_error(path, "not a zarr folder (no zarr.json / .zattrs)")
    try:
        with _quiet_ome_zarr_logs():
            location = parse_url(str(path), mode="r")
            nodes = [] if location is None else list(Reader(location)())
    except Exception as exc:
        raise read_error(path, exc) from None
    for node in nodes:
        for spec in node.specs:
            if isinstance(spec, Multiscales):
                return location, node, spec
    raise read_error(path, "no OME-Zarr multiscales image in it")


def _letters(node: Any, path: Path) -> str:
    names = [str(a["name"] if isinstance(a, dict) else a).lower() for a in node.metadata["axes"]]
    if any(n not in _AXIS_TYPES for n in names) or len(set(names)) != len(names):
        raise read_error(path, f"unsupported axes {names} (t, c, z, y, x are read)")
    return "".join(n.upper() for n in names)


def _level_scale(node: Any, level: int, ndim: int) -> tuple[float, ...] | None:
    transforms = (node.metadata.get("coordinateTransformations") or [[]])[level]
    for transform in transforms:
        if transform.get("type") == "scale" and len(transform.get("scale", ())) == ndim:
            return tuple(float(s) for s in transform["scale"])
    return None


def read_omezarr(path: Path, mmap: bool = False, level: int = 0) -> Volume:
    """The image of an OME-Zarr folder at pyramid ``level`` (0: full resolution), lazily.

    ``data`` is a read-only ``zarr.Array``; ``spacing`` is the level's scale transform; the
    spatial axes' unit is ``metadata["unit"]`` ("µm", "mm", ... or the NGFF name);
    ``metadata["ome_zarr"]`` records the NGFF version, the level paths and their shapes.
    ``mmap`` is accepted for the reader interface: OME-Zarr is always read lazily.
    """
    zarr, _ = _libraries()
    location, node, spec = _multiscales(path)
    paths = [str(p) for p in spec.datasets]
    if not -len(paths) <= level < len(paths):
        raise read_error(path, f"no pyramid level {level} (it has {len(paths)})")
    level %= len(paths)
    try:
        arrays = [zarr.open_array(location.subpath(p), mode="r") for p in paths]
    except Exception as exc:
        raise read_error(path, exc) from None
    data = arrays[level]
    axes = _letters(node, path)
    if len(axes) != data.ndim:
        raise read_error(path, f"axes {axes} do not match the {data.ndim}D array")
    units = {
        str(a.get("unit"))
        for a in node.metadata["axes"]
        if isinstance(a, dict) and a.get("type") == "space" and a.get("unit")
    }
    metadata: dict[str, Any] = {
        "ome_zarr": {
            "version": str(location.version),
            "levels": paths,
            "level": level,
            "shapes": [list(a.shape) for a in arrays],
            "name": node.metadata.get("name"),
        }
    }
    if len(units) == 1:
        unit = units.pop()
        metadata["unit"] = _OUR_UNITS.get(unit, unit)
    spacing = _level_scale(node, level, data.ndim)
    return Volume(data, axes, spacing, None, metadata, "ome-zarr", path)


def read_pyramid(path: str | Path) -> list[Any]:
    """Every pyramid level of the image at ``path``, full resolution first, as lazy arrays (what
    napari shows as one multiscale layer)."""
    volume = read_omezarr(Path(path))
    levels = volume.metadata["ome_zarr"]["levels"]
    return [volume.data] + [read_omezarr(Path(path), level=k).data for k in range(1, len(levels))]


# -------------------------------------------------------------------------------- writing


def _ngff_axes(axes: str, path: Path) -> list[dict[str, str]]:
    names = axes.lower()
    order = [n for n in "tczyx" if n in names]
    if len(names) < 2 or list(names) != order or names[-2:] != "yx":
        raise FileFormatError(
            f"cannot write {path}: OME-Zarr needs axes in t, c, z, y, x order, got {axes!r}"
        )
    return [{"name": n, "type": _AXIS_TYPES[n]} for n in names]


def level0_chunks(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Level-0 chunks: one slice (one plane), tiled in-plane above ``MAX_CHUNK_SIDE``."""
    return (*(1 for _ in shape[:-2]), *(min(s, MAX_CHUNK_SIDE) for s in shape[-2:]))


def create_image(
    path: str | Path,
    shape: tuple[int, ...],
    dtype: Any,
    axes: str,
    chunks: tuple[int, ...] | None = None,
    version: str = NGFF_VERSION,
) -> Any:
    """An empty level-0 array ``s0`` in a zarr group at ``path`` (created), to be filled region
    by region (whole chunks per writer, so concurrent writers never share a chunk)."""
    zarr, _ = _libraries()
    from ome_zarr.format import format_from_version

    path = Path(path)
    _ngff_axes(axes, path)
    fmt = format_from_version(version)
    group = zarr.open_group(str(path), mode="w", zarr_format=fmt.zarr_format)
    return group.create_array(
        "s0",
        shape=tuple(int(s) for s in shape),
        dtype=np.dtype(dtype),
        chunks=chunks or level0_chunks(tuple(shape)),
        fill_value=0,
        **_array_options(fmt.zarr_format, axes),
    )


def _array_options(zarr_format: int, axes: str) -> dict[str, Any]:
    """NGFF's array settings: named dimensions (zarr v3) or "/"-separated chunk keys (v2)."""
    if zarr_format == 3:
        return {"dimension_names": list(axes.lower())}
    return {"chunk_key_encoding": {"name": "v2", "separator": "/"}}


def pyramid_shapes(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Level shapes: halve y and x while the smaller side stays >= ``MIN_LEVEL_SIDE``."""
    shapes = [tuple(int(s) for s in shape)]
    while min(shapes[-1][-2:]) // 2 >= MIN_LEVEL_SIDE:
        last = shapes[-1]
        shapes.append((*last[:-2], last[-2] // 2, last[-1] // 2))
    return shapes


def finish_pyramid(
    path: str | Path,
    axes: str,
    spacing: tuple[float, ...] | None = None,
    unit: str | None = None,
    version: str = NGFF_VERSION,
    scheduler: Any = "threads",
    name: str = "image",
) -> int:
    """Add pyramid levels ``s1``... computed from ``s0`` and write the multiscales metadata.

    ``scheduler`` is what dask computes the levels with: "threads" (this process), or a
    ``distributed.Client`` to spread the work over a cluster. Returns the number of levels.
    """
    zarr, _ = _libraries()
    import dask
    import dask.array as da
    from ome_zarr.dask_utils import local_mean
    from ome_zarr.format import format_from_version
    from ome_zarr.writer import write_multiscales_metadata

    path = Path(path)
    ngff_axes = _ngff_axes(axes, path)
    fmt = format_from_version(version)
    group = zarr.open_group(str(path), mode="r+")
    shapes = pyramid_shapes(group["s0"].shape)
    for k in range(1, len(shapes)):
        above = da.from_zarr(group[f"s{k - 1}"])
        level = local_mean(above, shapes[k])
        chunks = tuple(min(c, s) for c, s in zip(group["s0"].chunks, shapes[k], strict=True))
        target = group.create_array(
            f"s{k}",
            shape=shapes[k],
            dtype=above.dtype,
            chunks=chunks,
            fill_value=0,
            **_array_options(fmt.zarr_format, axes),
        )
        stored = da.store(level.rechunk(chunks), target, lock=False, compute=False)
        if isinstance(scheduler, str):
            dask.compute(stored, scheduler=scheduler)
        else:
            scheduler.compute(stored).result()
    size = np.ones(len(axes)) if spacing is None else np.asarray(spacing, dtype=float)
    datasets = []
    for k, transforms in enumerate(fmt.generate_coordinate_transformations(shapes)):
        transforms[0]["scale"] = [
            float(s * f) for s, f in zip(transforms[0]["scale"], size, strict=True)
        ]
        datasets.append({"path": f"s{k}", "coordinateTransformations": transforms})
    ngff_unit = _NGFF_UNITS.get(str(unit)) if unit else None
    if ngff_unit is not None:
        for axis in ngff_axes:
            if axis["type"] == "space":
                axis["unit"] = ngff_unit
    write_multiscales_metadata(group, datasets=datasets, fmt=fmt, axes=ngff_axes, name=name)
    return len(shapes)


def store_level0(target: Any, data: Any, slab: int = 8) -> None:
    """Copy ``data`` (numpy, memmap, zarr, dask) into the level-0 array, ``slab`` slices at a
    time, so at most that many slices are in memory."""
    for first in range(0, data.shape[0], slab):
        target[first : first + slab] = np.asarray(data[first : first + slab])


def write_omezarr(
    path: Path,
    data: Any,
    like: Volume | None = None,
    version: str = NGFF_VERSION,
) -> None:
    """Write ``data`` as an OME-Zarr image with a pyramid, with ``like``'s axes, spacing, unit."""
    if np.dtype(data.dtype) == np.float16:
        data = np.asarray(data, dtype=np.float32)
    elif np.dtype(data.dtype) == bool:
        data = np.asarray(data, dtype=np.uint8)
    like = like_for(data, like)
    axes = like.axes if like is not None else default_axes(data.ndim)
    spacing = like.spacing if like is not None else None
    unit = like.metadata.get("unit") if like is not None else None
    target = create_image(path, tuple(data.shape), data.dtype, axes, version=version)
    store_level0(target, data)
    finish_pyramid(path, axes, spacing, unit, version)


@contextlib.contextmanager
def _quiet_ome_zarr_logs() -> Any:
    """ome-zarr logs a 'version mismatch' line for every 0.4 image it reads; keep it out."""
    import logging

    logger = logging.getLogger("ome_zarr")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
