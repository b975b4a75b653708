"""Averaging the results of independently trained runs (different seeds) of the same case.

Each run saves its output (TTA or not) as .npy; ``--combine`` scores every run and the mean of all.

    cd benchmarks
    python ensemble.py train --case microscopy --steps 2400 --seed 0 --tta --dir /tmp/ens
    python ensemble.py train --case microscopy --steps 2400 --seed 1 --tta --dir /tmp/ens
    python ensemble.py combine --case microscopy --dir /tmp/ens --out results/ensemble/microscopy_2400.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from quality import (
    add_lambda_rc_option,
    headline_scores,
    load_case,
    run_ours,
    training_overrides,
)

from napari_nsn2n.config import LR_SCHEDULES
from napari_nsn2n.pipeline import apply_model


def _scores(clean: np.ndarray, out: np.ndarray) -> list[float]:
    """[whole, foreground] PSNR."""
    scores = headline_scores(clean, out)
    return [scores["psnr"], scores["psnr_fg"]]


def train(args) -> None:
    case = load_case(args.case)
    _, seconds, info = run_ours(
        case, args.steps, args.threads, seed=args.seed, **training_overrides(args)
    )
    out = apply_model(info["bundle"], case.noisy, device="cpu", tta=args.tta)
    args.dir.mkdir(parents=True, exist_ok=True)
    np.save(args.dir / f"{args.case}_seed{args.seed}.npy", out)
    print(args.case, args.seed, round(seconds), _scores(case.clean, out), flush=True)


def combine(args) -> None:
    case = load_case(args.case)
    runs = {p.stem: np.load(p) for p in sorted(args.dir.glob(f"{args.case}_seed*.npy"))}
    result = {name: _scores(case.clean, out) for name, out in runs.items()}
    result["mean of all"] = _scores(case.clean, np.mean(list(runs.values()), axis=0))
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["train", "combine"])
    parser.add_argument("--case", default="microscopy")
    parser.add_argument("--steps", type=int, default=2400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="late")
    add_lambda_rc_option(parser)
    parser.add_argument("--tta", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    train(args) if args.mode == "train" else combine(args)


if __name__ == "__main__":
    main()
