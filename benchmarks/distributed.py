"""Scaling out on this machine: a cohort on 1 and 2 dask workers, chunked inference of a stack on
1 and 2 workers into OME-Zarr, and the NGFF libraries side by side (docs/performance.md,
docs/scaling.md).

    python benchmarks/distributed.py --part cohort --volumes 8
    python benchmarks/distributed.py --part blocks --slices 1024 --size 512
    python benchmarks/distributed.py --part ngff        # ome-zarr vs ngff-zarr (both installed)
    sudo python benchmarks/distributed.py --part blocks --slices 4096 --memory-limit 3   # see below

``--memory-limit GIB`` runs the blocks part (client, scheduler and workers) inside a Linux memory
cgroup of that size, made smaller than the stack: a stack larger than the memory the run may use,
on a machine whose own RAM would take hours to outgrow at these rates. The input is written
before the limit applies, and a child process that reads the whole stack is run inside the limit
first to show that the limit holds (the kernel kills it). Needs root (it writes /sys/fs/cgroup).

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


def _enter_memory_cgroup(gib: float) -> Path:
    """Move this process (and so every process it starts) into a new memory cgroup of ``gib``
    GiB: cgroup v2 (memory.max) or v1 (memory.limit_in_bytes); no swap is used either way."""
    limit = str(int(gib * 2**30))
    unified = Path("/sys/fs/cgroup/cgroup.controllers")
    if unified.exists() and "memory" in unified.read_text():
        group = Path(f"/sys/fs/cgroup/nsn2n-bench-{os.getpid()}")
        group.mkdir()
        (group / "memory.max").write_text(limit)
        (group / "memory.swap.max").write_text("0")
    else:
        group = Path(f"/sys/fs/cgroup/memory/nsn2n-bench-{os.getpid()}")
        group.mkdir()
        (group / "memory.limit_in_bytes").write_text(limit)
    (group / "cgroup.procs").write_text(str(os.getpid()))
    return group


def _whole_stack_read_is_killed(source: Path) -> int:
    """Read the whole stack into memory in a child process (inside the cgroup); its exit code
    (-9: killed by the kernel for exceeding the limit)."""
    code = (
        "import numpy as np; from napari_nsn2n.io import read_volume; "
        f"a = np.asarray(read_volume({str(source)!r}).data); print(a.nbytes)"
    )
    return subprocess.run([sys.executable, "-c", code], check=False).returncode


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
    rows: dict = {"stack": [args.slices, args.size, args.size], "stack_gib": round(gib, 2)}
    if args.memory_limit:
        if args.memory_limit >= gib:
            raise SystemExit(
                f"--memory-limit {args.memory_limit} GiB is not below the stack's {gib:.2f} GiB"
            )
        group = _enter_memory_cgroup(args.memory_limit)
        code = _whole_stack_read_is_killed(source)
        print(
            f"memory cgroup {group} of {args.memory_limit} GiB; whole-stack read there: rc {code}"
        )
        if code != -9:
            raise SystemExit("the memory limit did not stop a whole-stack read: not a valid run")
        rows["memory_limit_gib"] = args.memory_limit
        rows["whole_stack_read_rc"] = code
    crop = np.asarray(read_volume(source).data[:16, :128, :128])  # training is not measured
    config = TrainConfig.preset("fast", epochs=1, min_steps=None, num_threads=1)
    _, bundle = denoise(crop, threshold=0.01, config=config, return_model=True)
    for workers in args.workers:
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
    if args.memory_limit:
        peak = next(
            (
                group / n
                for n in ("memory.peak", "memory.max_usage_in_bytes")
                if (group / n).exists()
            ),
            None,
        )
        if peak is not None:  # file pages (zarr chunks read and written) included
            rows["cgroup_peak_mib"] = round(int(peak.read_text()) / 2**20, 1)
            print(f"cgroup peak, page cache included: {rows['cgroup_peak_mib']} MiB")
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
    parser.add_argument(
        "--memory-limit", type=float, help="GiB: run blocks in a memory cgroup this small (root)"
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    results: dict = {"load_average_at_start": list(os.getloadavg())}
    for part in args.part or ["cohort", "blocks"]:
        results[part] = {"cohort": cohort, "blocks": blocks, "ngff": ngff}[part](args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
