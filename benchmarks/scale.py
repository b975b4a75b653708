"""A stack larger than it needs to be in memory: peak resident memory of a lazy, streamed run.

    python benchmarks/scale.py --slices 100 --size 1024 --steps 30

Writes a uint16 .npy of (slices, size, size) to a temporary folder, opens it as a memmap, and runs the
whole pipeline slice by slice (``in_memory=False``): LPF differences and the output are temporary /
on-disk memmaps, training reads patches from the memmap, stopping after ``--steps`` steps (the
memory does not grow with training), and the denoised stack is streamed into an on-disk .npy.
Prints the file size, the size the stack would take as float32 in memory, the peak RSS and the
peak anonymous RSS (memory that is not file pages of the memmaps, which the kernel can drop).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_nsn2n import resources
from napari_nsn2n.config import TrainConfig
from napari_nsn2n.control import RunControl
from napari_nsn2n.events import Finished, StageProgress, TrainStep
from napari_nsn2n.pipeline import RunRequest, run


def anonymous_rss_mib() -> float:
    """Resident anonymous memory (not the file pages of memmaps, which the kernel can drop)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_file(path: Path, slices: int, size: int) -> np.ndarray:
    data = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint16, shape=(slices, size, size))
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    for z in range(slices):  # a drifting disc plus Poisson-like noise, written slice by slice
        disc = np.hypot(yy - size / 2, xx - size / 2 - z) < size / 3
        data[z] = rng.poisson(200 + 800 * disc).astype(np.uint16)
    data.flush()
    return np.load(path, mmap_mode="r")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slices", type=int, default=100)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument(
        "--folder", type=Path, default=None, help="where the files go (default: /tmp)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        start = time.perf_counter()
        source = make_file(Path(folder) / "big.npy", args.slices, args.size)
        print(f"  input written in {time.perf_counter() - start:.0f} s", flush=True)
        resources.SPILL_BYTES = 64 << 20  # spill intermediates above 64 MiB, as for a huge stack
        out = np.lib.format.open_memmap(
            Path(folder) / "out.npy", mode="w+", dtype=np.float32, shape=source.shape
        )
        control, start, peak_anon = RunControl(), time.perf_counter(), 0.0
        config = TrainConfig.preset("fast", patch_size=128, num_threads=args.threads)
        request = RunRequest(source, 0.02, config, in_memory=False, out=out)
        for event in run(request, control):
            peak_anon = max(peak_anon, anonymous_rss_mib())
            if isinstance(event, TrainStep) and event.step >= args.steps:
                if event.step == args.steps:
                    print(
                        f"  {args.steps} training steps at {time.perf_counter() - start:.0f} s",
                        flush=True,
                    )
                control.stop()
            if isinstance(event, StageProgress) and (
                event.done == event.total or event.done % 200 == 0
            ):
                print(
                    f"  {event.stage} {event.done}/{event.total} at "
                    f"{time.perf_counter() - start:.0f} s, peak anonymous RSS {peak_anon:.0f} MiB",
                    flush=True,
                )
            if isinstance(event, Finished):
                assert event.denoised is out
        out.flush()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"stack {source.shape} uint16: file {source.nbytes / 2**20:.0f} MiB, as float32 "
            f"{source.size * 4 / 2**20:.0f} MiB; output streamed to disk "
            f"({out.nbytes / 2**20:.0f} MiB); peak RSS {peak:.0f} MiB (memmap pages included), "
            f"peak anonymous RSS {peak_anon:.0f} MiB; "
            f"{time.perf_counter() - start:.0f} s"
        )


if __name__ == "__main__":
    main()
