"""Where ours loses to a baseline: foreground error split by how the masks W cover each pixel.

A slice belongs to two pairs (i-1, i) and (i, i+1). A foreground pixel is matched in both (L_recon
supervises it from either neighbour), in one, or in none (only L_IC and what the network learned
elsewhere reach it). For each group: its share of the foreground, ours' and the baseline's MSE, and
how much of ours' error an in-plane blur explains (least-squares fit of the error on the clean
slice's 2D Laplacian: a blurring denoiser's error is about beta x Laplacian with beta > 0).

Takes saved outputs (``ensemble.py train`` writes ours; ``--save-baseline`` writes the baseline):

    cd benchmarks
    python ensemble.py train --case microscopy --steps 2400 --seed 0 --tta --lambda-rc 0.5 --dir /tmp/ens
    python mask_coverage_error.py --case microscopy --ours /tmp/ens/microscopy_seed0.npy \
        --steps 2400 --out results/mask_coverage/microscopy_2400.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import laplace

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import budget_config, foreground, load_case, run_baselines, training_overrides

from napari_nsn2n.pipeline import compute_differences
from napari_nsn2n.stack import PreparedStack


def coverage(pair_masks: np.ndarray) -> np.ndarray:
    """Per slice and pixel: in how many of its (one or two) pairs W = 1, as 0 / 1 / 2."""
    count = np.zeros((pair_masks.shape[0] + 1, *pair_masks.shape[1:]), dtype=np.uint8)
    count[:-1] += pair_masks.astype(bool)
    count[1:] += pair_masks.astype(bool)
    return count


def blur_fit(error: np.ndarray, laplacian: np.ndarray) -> tuple[float, float]:
    """(beta, share of the squared error explained) for error ~ beta x laplacian."""
    beta = float((error * laplacian).sum() / max((laplacian**2).sum(), 1e-20))
    explained = 1.0 - float(
        ((error - beta * laplacian) ** 2).mean() / max((error**2).mean(), 1e-20)
    )
    return beta, explained


def split(clean, outputs: dict[str, np.ndarray], pair_masks: np.ndarray) -> dict:
    fg = foreground(clean)
    count = coverage(pair_masks)
    pairs = np.full(len(count), 2, dtype=np.uint8)  # the first and last slice have one pair
    pairs[[0, -1]] = 1
    every = count == pairs[:, None, None]
    groups = {
        "matched in every pair": fg & every,
        "matched in one of two pairs": fg & (count == 1) & ~every,
        "matched in none": fg & (count == 0),
    }
    lap = np.stack([laplace(s) for s in clean])
    rows = {}
    for label, sel in groups.items():
        row = {"share_of_foreground": round(float(sel.sum() / fg.sum()), 3)}
        for name, out in outputs.items():
            err = out.astype(np.float64) - clean
            beta, explained = blur_fit(err[sel], lap[sel])
            row[name] = {
                "mse": round(float((err[sel] ** 2).mean()), 3),
                "mean_error": round(float(err[sel].mean()), 3),
                "blur_beta": round(beta, 3),
                "blur_explained": round(explained, 3),
            }
        rows[label] = row
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--case", default="microscopy")
    parser.add_argument("--ours", type=Path, required=True, help=".npy output of ours")
    parser.add_argument("--baseline", default="bm3d_vst", help="quality.py baseline name")
    parser.add_argument("--baseline-npy", type=Path, help="its saved output (else run it)")
    parser.add_argument("--save-baseline", type=Path, help="write the baseline's output here")
    parser.add_argument("--steps", type=int, default=2400, help="ours' budget (for the th rule)")
    parser.add_argument("--lr-schedule", default="late")
    parser.add_argument("--threshold", type=float, help="default: the suggestion for --steps")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    case = load_case(args.case)
    clean = case.clean.astype(np.float64)
    if args.baseline_npy:
        baseline = np.load(args.baseline_npy)
    else:
        baseline = run_baselines(case, 0, 1, [args.baseline])[args.baseline][0]
        if args.save_baseline:
            np.save(args.save_baseline, baseline)
    prepared = PreparedStack.from_array(case.noisy)
    diffs = compute_differences(prepared)
    config = budget_config(
        args.steps, len(prepared.layout.pair_starts()), 1, **training_overrides(args)
    )
    th = args.threshold if args.threshold is not None else diffs.suggest_threshold(config)
    rows = split(clean, {"ours": np.load(args.ours), args.baseline: baseline}, diffs.masks(th))
    result = {"case": args.case, "threshold": th, "steps": args.steps, "groups": rows}
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
