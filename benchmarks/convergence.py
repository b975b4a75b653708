"""PSNR against training steps and seconds for several training configurations.

Steps to converge do not depend on the device (same seed, same batches), so the curves can be
recorded on a GPU and combined with CPU seconds per step measured by benchmarks/speed.py.

    python benchmarks/convergence.py --sample ct --steps 2000 --out results/convergence_ct.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from checkpoints import train_with_checkpoints
from napari_nsn2n.api import resolve_threshold

from napari_nsn2n.config import TrainConfig
from napari_nsn2n.metrics import psnr
from napari_nsn2n.pipeline import compute_differences
from napari_nsn2n.samples import SAMPLES
from napari_nsn2n.stack import PreparedStack
from napari_nsn2n.training.trainer import Trainer

CONFIGS = {
    "b32-p128-bs4": dict(base_channels=32, patch_size=128, batch_size=4),
    "b16-p128-bs4": dict(base_channels=16, patch_size=128, batch_size=4),
    "b16-p64-bs8": dict(base_channels=16, patch_size=64, batch_size=8),
    "b16-p96-bs4": dict(base_channels=16, patch_size=96, batch_size=4),
    "b32-full-bs4": dict(base_channels=32, patch_size=None, batch_size=4),
}


def curve(prepared, clean, masks, config, steps, eval_every):
    trainer = Trainer(prepared.slices, masks, prepared.layout.pair_starts(), config)
    points, start = [], time.perf_counter()
    try:
        for step, _ in train_with_checkpoints(trainer, eval_every, max_steps=steps):
            out = prepared.restore(trainer.predict(prepared.slices))
            points.append((step, time.perf_counter() - start, psnr(clean, out)))
            print(f"  step {step:5d} {points[-1][1]:7.1f}s PSNR {points[-1][2]:.2f}", flush=True)
    finally:
        trainer.close()
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sample", default="ct", choices=sorted(SAMPLES))
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS))
    parser.add_argument("--threshold", default="sample")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sample = SAMPLES[args.sample]()
    prepared = PreparedStack.from_array(sample.noisy)
    diffs = compute_differences(prepared)
    th = (
        sample.suggested_threshold
        if args.threshold == "sample"
        else resolve_threshold(args.threshold, diffs)
    )
    masks = diffs.masks(th)
    print(
        f"{sample.name}: noisy PSNR {psnr(sample.clean, sample.noisy):.2f} dB, th {th:.4f}, "
        f"matched {diffs.matched_fraction(th):.1%}"
    )
    results = {
        "sample": sample.name,
        "threshold": th,
        "noisy_psnr": psnr(sample.clean, sample.noisy),
        "curves": {},
    }
    for name in args.configs:
        steps_per_epoch = int(
            np.ceil(len(prepared.layout.pair_starts()) / CONFIGS[name]["batch_size"])
        )
        config = replace(
            TrainConfig(device=args.device),
            **CONFIGS[name],
            epochs=int(np.ceil(args.steps / steps_per_epoch)),
        )
        print(name, flush=True)
        results["curves"][name] = curve(
            prepared, sample.clean, masks, config, args.steps, args.eval_every
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
