"""CUDA figures in one short run (about 6 minutes on one data-centre GPU): what a GPU user gets.

    python benchmarks/gpu.py --out benchmarks/results/gpu.json      (benchmarks/gpu.sh wraps it)

Measures, on the 48 x 256 x 256 CT-like phantom:
* optimiser steps per second of the fast and the paper presets (bf16 autocast where the device
  supports it, as the presets use), and peak device memory of each;
* PSNR against training time for the GPU default (``TrainConfig.preset("auto")``: the paper's
  network) and the time to come within 0.3 dB of the run's final PSNR;
* bf16 vs fp16 vs fp32 autocast: PSNR after the same steps and steps per second;
* inference slices per second (batch 8, with and without TTA).
Prints one JSON document and writes it to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scoring import slice_metrics

from napari_nsn2n import TrainConfig
from napari_nsn2n.method.inference import predict_slices
from napari_nsn2n.pipeline import compute_differences
from napari_nsn2n.samples import ct_stack
from napari_nsn2n.stack import PreparedStack
from napari_nsn2n.training.trainer import Trainer


def psnr(clean, prepared, trainer) -> float:
    out = prepared.normalizer.inverse(trainer.predict(np.asarray(prepared.slices)))
    return round(float(slice_metrics(clean, out)["psnr"].mean()), 2)


def steps_per_second(trainer, steps: int) -> float:
    batches = trainer.sampler.epoch()
    lr = trainer.learning_rate(0)
    for _ in range(5):  # warm-up (cuDNN autotuning, allocator)
        trainer.step(next(batches), lr)
    torch.cuda.synchronize()
    start = time.perf_counter()
    done = 0
    while done < steps:
        for batch in trainer.sampler.epoch():
            trainer.step(batch, lr)
            done += 1
            if done >= steps:
                break
    torch.cuda.synchronize()
    return round(steps / (time.perf_counter() - start), 1)


def curve(prepared, masks, clean, config, every: int) -> dict:
    trainer = Trainer(prepared.slices, masks, prepared.layout.pair_starts(), config)
    points, step, start = [], 0, time.perf_counter()
    for epoch in range(trainer.epochs):
        lr = trainer.learning_rate(epoch)
        for batch in trainer.sampler.epoch():
            trainer.step(batch, lr)
            step += 1
            if step % every == 0 or step == trainer.total_steps:
                torch.cuda.synchronize()
                points.append(
                    [step, round(time.perf_counter() - start, 2), psnr(clean, prepared, trainer)]
                )
    final = points[-1][2]
    within = next(p for p in points if p[2] >= final - 0.3)
    trainer.close()
    return {"points": points, "final_psnr": final, "seconds_to_within_0.3dB": within[1]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("gpu.json"))
    parser.add_argument("--curve-every", type=int, default=100)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: nothing to measure")
    torch.backends.cudnn.benchmark = True
    sample = ct_stack((48, 256, 256))
    prepared = PreparedStack.from_array(sample.noisy)
    diffs = compute_differences(prepared)
    report: dict = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    for name in ("fast", "paper"):
        config = TrainConfig.preset(name, device="cuda").resolved(diffs.correlated_noise)
        masks = diffs.lazy_masks(diffs.suggest_threshold(config))
        torch.cuda.reset_peak_memory_stats()
        trainer = Trainer(prepared.slices, masks, prepared.layout.pair_starts(), config)
        report[f"{name}_steps_per_s"] = steps_per_second(trainer, 200)
        report[f"{name}_peak_memory_MiB"] = round(torch.cuda.max_memory_allocated() / 2**20)
        trainer.close()
    default = TrainConfig.preset("auto", device="cuda").resolved(diffs.correlated_noise)
    masks = diffs.lazy_masks(diffs.suggest_threshold(default))
    report["default_curve"] = curve(prepared, masks, sample.clean, default, args.curve_every)
    precision = {}
    for label, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16), ("fp32", None)):
        config = replace(default, epochs=4, min_steps=None, mixed_precision=dtype is not None)
        trainer = Trainer(prepared.slices, masks, prepared.layout.pair_starts(), config)
        if dtype is not None:
            trainer.amp_dtype = dtype
            if dtype is torch.float16:
                trainer.scaler = torch.amp.GradScaler("cuda")
        started = time.perf_counter()
        for epoch in range(trainer.epochs):
            for batch in trainer.sampler.epoch():
                trainer.step(batch, trainer.learning_rate(epoch))
        torch.cuda.synchronize()
        precision[label] = {
            "psnr": psnr(sample.clean, prepared, trainer),
            "steps_per_s": round(trainer.total_steps / (time.perf_counter() - started), 1),
        }
        trainer.close()
    report["precision"] = precision
    trainer = Trainer(prepared.slices, masks, prepared.layout.pair_starts(), default)
    slices = np.asarray(prepared.slices)
    for tta in (False, True):
        predict_slices(trainer.model, slices[:8], trainer.device, 8, tta=tta)
        torch.cuda.synchronize()
        started = time.perf_counter()
        predict_slices(
            trainer.model, slices, trainer.device, 8, tta=tta, amp_dtype=trainer.amp_dtype
        )
        torch.cuda.synchronize()
        key = "inference_slices_per_s" + ("_tta" if tta else "")
        report[key] = round(len(slices) / (time.perf_counter() - started), 1)
    trainer.close()
    text = json.dumps(report, indent=1)
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
