"""Does averaging the weights over the last steps (an exponential moving average, EMA) denoise better
than the last weights? One training run per case keeps several EMA copies (one per decay) beside
the model, so every decay is measured on the same run at no extra training.

    python benchmarks/weight_averaging.py --cases microscopy mri9 --steps 800 --threads 1 \
        --out benchmarks/results/ema/800.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from checkpoints import train_with_checkpoints
from quality import budget_config, load_case, save, slice_metrics

from napari_nsn2n.pipeline import compute_differences
from napari_nsn2n.stack import PreparedStack
from napari_nsn2n.training.trainer import Trainer


def score(case, prepared, trainer, tta=False) -> list[float]:
    out = prepared.normalizer.inverse(trainer.predict(np.asarray(prepared.slices), tta=tta))
    m = slice_metrics(case.clean, out)
    return [round(float(m["psnr"].mean()), 3), round(float(np.nanmean(m["psnr_fg"])), 3)]


def run_case(name: str, args) -> dict:
    case = load_case(name)
    prepared = PreparedStack.from_array(case.noisy)
    diffs = compute_differences(prepared)
    config = budget_config(
        args.steps,
        len(prepared.layout.pair_starts()),
        args.threads,
        lr_schedule=args.lr_schedule,
        seed=args.seed,
    )
    th = diffs.suggest_threshold(config)
    trainer = Trainer(prepared.slices, diffs.masks(th), prepared.layout.pair_starts(), config)
    params = list(trainer.model.parameters())
    shadows = {d: [p.detach().clone() for p in params] for d in args.decays}
    rows, start = {}, time.perf_counter()
    try:
        for step, _ in train_with_checkpoints(trainer, 1):
            with torch.no_grad():
                for decay, shadow in shadows.items():
                    # a plain running mean until 1 / (1 - decay) steps have been seen
                    d = min(decay, 1 - 1 / step)
                    torch._foreach_lerp_(shadow, [p.detach() for p in params], 1 - d)
            if step % args.eval_every and step != trainer.total_steps:
                continue
            row = {"last": score(case, prepared, trainer)}
            kept = [p.detach().clone() for p in params]
            for decay, shadow in shadows.items():
                with torch.no_grad():
                    torch._foreach_copy_(params, shadow)
                row[f"ema{decay}"] = score(case, prepared, trainer)
                if args.tta and step == trainer.total_steps:
                    row[f"ema{decay}_tta"] = score(case, prepared, trainer, tta=True)
                with torch.no_grad():
                    torch._foreach_copy_(params, kept)
            if args.tta and step == trainer.total_steps:
                row["last_tta"] = score(case, prepared, trainer, tta=True)
            rows[step] = row
            print(name, step, round(time.perf_counter() - start), row, flush=True)
    finally:
        trainer.close()
    return {"th": th, "steps": trainer.total_steps, "seed": args.seed, "by_step": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", nargs="+", default=["microscopy", "mri9"])
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--decays", type=float, nargs="+", default=[0.98, 0.99, 0.995])
    parser.add_argument("--eval-every", type=int, default=200)
    parser.add_argument("--lr-schedule", default="late")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tta", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {"args": {k: str(v) for k, v in vars(args).items()}}
    for name in args.cases:
        results[name] = run_case(name, args)
        save(results, args)


if __name__ == "__main__":
    main()
