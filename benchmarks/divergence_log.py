"""Per-epoch log of one NS-N2N run: mean / max loss and its terms, gradient norm, PSNR every 5 epochs.

Used to find where a long ``late`` run on MRI 9 % blew up (docs/benchmarks.md, "Learning-rate
schedule and divergence guard"). ``--no-guard`` turns the divergence guard's spike test off (a
non-finite loss still rolls back), which is how that run was recorded.

    python benchmarks/divergence_log.py mri9 --steps 2400 --lr-schedule late --no-guard \
        --out benchmarks/results/lr_schedule/diverged_mri9_late_2400_per_epoch.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import budget_config, load_case, slice_metrics

from napari_nsn2n.config import LR_SCHEDULES
from napari_nsn2n.pipeline import compute_differences
from napari_nsn2n.stack import PreparedStack
from napari_nsn2n.training.guard import DivergenceGuard
from napari_nsn2n.training.trainer import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case")
    parser.add_argument("--steps", type=int, default=2400)
    parser.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="late")
    parser.add_argument("--no-guard", action="store_true")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    case = load_case(args.case)
    prepared = PreparedStack.from_array(case.noisy)
    diffs = compute_differences(prepared)
    n_pairs = len(prepared.layout.pair_starts())
    config = budget_config(args.steps, n_pairs, 1, lr_schedule=args.lr_schedule)
    th = diffs.suggest_threshold(config)
    trainer = Trainer(prepared.slices, diffs.masks(th), prepared.layout.pair_starts(), config)
    if args.no_guard:
        trainer.guard = DivergenceGuard(factor=math.inf)
        trainer.guard.start(trainer.model, trainer.optimizer)
    norms: list[float] = []
    adam_step = torch.optim.Adam.step

    def step_with_norm(self, *a, **k):  # measure the gradient norm, change nothing
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        return adam_step(self, *a, **k)

    torch.optim.Adam.step = step_with_norm
    with args.out.open("w") as fh:
        for epoch in range(trainer.epochs):
            lr = trainer.learning_rate(epoch)
            losses = np.array([trainer.step(b, lr) for b in trainer.sampler.epoch()])
            recent = norms[-len(losses) :]
            row = {
                "epoch": epoch,
                "lr": lr * trainer.guard.lr_scale,
                "loss": float(losses[:, 0].mean()),
                "loss_max": float(losses[:, 0].max()),
                "recon": float(losses[:, 1].mean()),
                "rc": float(losses[:, 2].mean()),
                "ic": float(losses[:, 3].mean()),
                "gmax": max(recent),
                "gmed": float(np.median(recent)),
            }
            if epoch % 5 == 4 or epoch == trainer.epochs - 1:
                m = slice_metrics(case.clean, prepared.restore(trainer.predict(prepared.slices)))
                row.update(psnr=float(m["psnr"].mean()), psnr_fg=float(np.nanmean(m["psnr_fg"])))
            fh.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    trainer.close()


if __name__ == "__main__":
    main()
