"""Scaling out on this machine: a cohort on 1 and 2 dask workers, chunked inference of a stack on
1 and 2 workers into OME-Zarr, and the NGFF libraries side by side (docs/performance.md,
docs/scaling.md).

    python benchmarks/distributed.py --part cohort --volumes 8
    python benchmarks/distributed.py --part blocks --slices 1024 --size 512
    python benchmarks/distributed.py --part ngff        # ome-zarr vs ngff-zarr (both installed)

Workers are LocalCluster processes with one thread each (one torch thread). "peak RSS" is the
largest resident set a worker process reached (VmHWM), torch and the model included.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# this file's own folder comes first on sys.path and its name would shadow dask's package
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import numpy as np  # noqa: E402

from napari_nsn2n.config import TrainConfig  # noqa: E402


def _peak_rss_mib() -> float:
    """This process's peak resident set: VmHWM (reset by exec), not ru_maxrss, which a spawned
    worker inherits from the parent that started it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cluster(workers: int):
    import distributed

    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    return cluster, distributed.Client(cluster)


def _worker_peaks(client) -> list[float]:
    return sorted(round(v, 1) for v in client.run(_peak_rss_mib).values())


def cohort(args: argparse.Namespace) -> dict:
    """``--volumes`` CT-like stacks, each trained for ``--epochs`` epochs and denoised."""
    from napari_nsn2n.distributed import CohortFinished, VolumeEnded, denoise_many
    from napari_nsn2n.samples import SAMPLES

    folder = Path(tempfile.mkdtemp(prefix="nsn2n-cohort-"))
    inputs = []
    for k in range(args.volumes):
        stack = SAMPLES["ct"](
            shape=(args.cohort_slices, args.cohort_size, args.cohort_size), seed=k
        )
        path = folder / f"ct{k}.npy"
        np.save(path, stack.noisy)
        inputs.append(str(path))
    config = TrainConfig.preset("fast", epochs=args.epochs, min_steps=None, num_threads=1)
    rows = {}
    for workers in (1, 2):
        out = folder / f"out{workers}"
        out.mkdir()
        cluster, client = _cluster(workers)
        try:
            started = time.perf_counter()
            events = list(denoise_many(inputs, out, client, config=config, threshold=0.01))
            wall = time.perf_counter() - started
            peaks = _worker_peaks(client)
        finally:
            client.close()
            cluster.close()
        finished = events[-1]
        assert isinstance(finished, CohortFinished) and finished.failed == 0
        steps = sorted({int(e.record.steps) for e in events if isinstance(e, VolumeEnded)})
        rows[workers] = {"wall_s": round(wall, 1), "steps": steps, "worker_peak_rss_mib": peaks}
        print(f"cohort {args.volumes} volumes, {workers} worker(s): {wall:.1f} s, peak RSS {peaks}")
    rows["ratio_1_to_2"] = round(rows[1]["wall_s"] / rows[2]["wall_s"], 2)
    print(f"cohort wall time ratio (1 worker / 2 workers): {rows['ratio_1_to_2']}")
    shutil.rmtree(folder, ignore_errors=True)
    return rows


def _make_stack(path: Path, slices: int, size: int) -> None:
    """A noisy (slices, size, size) float32 OME-Zarr stack, written a slab at a time."""
    from napari_nsn2n.io.omezarr import create_image, finish_pyramid

    target = create_image(path, (slices, size, size), np.float32, "ZYX", (1, size, size))
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    rng = np.random.default_rng(0)
    for first in range(0, slices, 16):
        n = min(16, slices - first)
        z = np.arange(first, first + n, dtype=np.float32)[:, None, None]
        clean = 0.5 + 0.25 * np.sin(xx / 9 + z / 40) * np.cos(yy / 11)
        target[first : first + n] = clean + 0.08 * rng.standard_normal(clean.shape, np.float32)
    finish_pyramid(path, "ZYX", (1.0, 0.5, 0.5), "µm")


def blocks(args: argparse.Namespace) -> dict:
    """A trained fast-preset model applied to a ``--slices`` x ``--size``^2 stack on 1 and 2
    workers into OME-Zarr (with its pyramid)."""
    from napari_nsn2n.distributed.blocks import denoise_blocks
    from napari_nsn2n.io import read_volume
    from napari_nsn2n.pipeline import denoise

    folder = Path(args.folder or tempfile.mkdtemp(prefix="nsn2n-blocks-"))
    source = folder / "stack.ome.zarr"
    if not source.exists():
        started = time.perf_counter()
        _make_stack(source, args.slices, args.size)
        print(f"input {source}: made in {time.perf_counter() - started:.0f} s")
    gib = args.slices * args.size * args.size * 4 / 2**30
    crop = np.asarray(read_volume(source).data[:16, :128, :128])  # training is not measured
    config = TrainConfig.preset("fast", epochs=1, min_steps=None, num_threads=1)
    _, bundle = denoise(crop, threshold=0.01, config=config, return_model=True)
    rows: dict = {"stack": [args.slices, args.size, args.size], "stack_gib": round(gib, 2)}
    for workers in (1, 2):
        out = folder / f"out{workers}.ome.zarr"
        shutil.rmtree(out, ignore_errors=True)
        cluster, client = _cluster(workers)
        try:
            started = time.perf_counter()
            list(denoise_blocks(bundle, source, out, client, slab=args.slab))
            wall = time.perf_counter() - started
            peaks = _worker_peaks(client)
        finally:
            client.close()
            cluster.close()
        rows[workers] = {
            "wall_s": round(wall, 1),
            "slices_per_s": round(args.slices / wall, 2),
            "worker_peak_rss_mib": peaks,
        }
        print(
            f"blocks {args.slices}x{args.size}x{args.size} ({gib:.2f} GiB), {workers} worker(s):"
            f" {wall:.1f} s, {args.slices / wall:.2f} slices/s, worker peak RSS {peaks} MiB"
        )
    rows["client_peak_rss_mib"] = round(_peak_rss_mib(), 1)
    print(f"client (this process) peak RSS {rows['client_peak_rss_mib']} MiB")
    if not args.folder:
        shutil.rmtree(folder, ignore_errors=True)
    return rows


def _import_seconds(module: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
    return round(time.perf_counter() - started, 2)


def ngff(args: argparse.Namespace) -> dict:
    """Write a 64 x 512 x 512 float32 stack with a pyramid and read one slice back, with
    ome-zarr-py (through napari-nsn2n's writer) and with ngff-zarr."""
    from importlib.metadata import requires, version

    data = np.random.default_rng(0).random((64, 512, 512), dtype=np.float32)
    folder = Path(tempfile.mkdtemp(prefix="nsn2n-ngff-"))
    rows = {}

    import ome_zarr.reader  # noqa: F401  (imports are timed apart, in fresh processes)

    from napari_nsn2n.io import Volume, read_volume, write_volume

    started = time.perf_counter()
    write_volume(folder / "a.ome.zarr", Volume(data, "ZYX", (2.0, 0.5, 0.5)))
    written = time.perf_counter() - started
    started = time.perf_counter()
    np.asarray(read_volume(folder / "a.ome.zarr").data[32])
    rows["ome-zarr"] = {
        "version": version("ome-zarr"),
        "requires": len(requires("ome-zarr") or []),
        "import_s": _import_seconds("ome_zarr.writer"),
        "write_s": round(written, 2),
        "open_and_read_slice_s": round(time.perf_counter() - started, 3),
    }
    try:
        import ngff_zarr as nz
    except ImportError:
        nz = None
    if nz is not None:
        started = time.perf_counter()
        image = nz.to_ngff_image(data, dims=["z", "y", "x"], scale={"z": 2.0, "y": 0.5, "x": 0.5})
        nz.to_ngff_zarr(str(folder / "b.ome.zarr"), nz.to_multiscales(image, scale_factors=[2, 4]))
        written = time.perf_counter() - started
        started = time.perf_counter()
        multiscales = nz.from_ngff_zarr(str(folder / "b.ome.zarr"))
        np.asarray(multiscales.images[0].data[32])
        rows["ngff-zarr"] = {
            "version": version("ngff-zarr"),
            "requires": len([r for r in requires("ngff-zarr") or [] if "extra ==" not in r]),
            "import_s": _import_seconds("ngff_zarr"),
            "write_s": round(written, 2),
            "open_and_read_slice_s": round(time.perf_counter() - started, 3),
        }
    for name, row in rows.items():
        print(name, row)
    shutil.rmtree(folder, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("cohort", "blocks", "ngff"), action="append")
    parser.add_argument("--volumes", type=int, default=8)
    parser.add_argument("--cohort-slices", type=int, default=24)
    parser.add_argument("--cohort-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3, help="training epochs per volume")
    parser.add_argument("--slices", type=int, default=1024)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--slab", type=int, default=8)
    parser.add_argument("--folder", help="keep the blocks input (and outputs) here")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    results: dict = {"load_average_at_start": list(os.getloadavg())}
    for part in args.part or ["cohort", "blocks"]:
        results[part] = {"cohort": cohort, "blocks": blocks, "ngff": ngff}[part](args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
