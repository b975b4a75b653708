"""The structure step after inference (``method.structure``), measured on one training per case.

Each case is trained once at the CPU defaults with the structure step off (``ours[keep_structure=
False]``, a variant via ``--spec``); the network's output and the same output with the structure
put back are scored against the clean reference (PSNR / SSIM whole and foreground, edge gain,
insert contrast). Rows go into ``--out`` in the harness's format (``harness.py report`` prints
them): method ``network`` and ``kept``.

    python benchmarks/structure.py --cases ct_ramp mri5 --budget steps:800 \
        --out benchmarks/results/inserts/structure_800.json

``--outputs DIR`` keeps each network output as ``DIR/CASE_BUDGET_SEED.npy`` and reuses it when it
is there, so the scoring can be rerun without training.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import load_case
from harness import load_rows, row_key, save_rows
from methods import Budget, parse_spec, run_engine
from scoring import summary

from napari_nsn2n.method.lowpass import LowpassSettings
from napari_nsn2n.method.structure import keep_structure


def cached_output(outputs: Path, case_name: str, budget: Budget | str, seed: int) -> Path:
    """Where ``--outputs`` keeps the network output of one case, budget and seed."""
    return outputs / (f"{case_name}_{budget}_{seed}".replace(":", "").replace("@", "_") + ".npy")


def network_output(case, budget: Budget, seed: int, spec: str, outputs: Path | None):
    """The network's output (cached under ``outputs``) and what the run reported."""
    cached = None
    if outputs is not None:
        cached = cached_output(outputs, case.name, budget, seed)
        if cached.exists():
            return np.load(cached), {"cached": str(cached)}
    _, overrides = parse_spec(spec)
    overrides = {**overrides, "keep_structure": False}
    denoised, seconds, info = run_engine(
        case, budget, seed, 1, "auto", "auto", LowpassSettings(), overrides
    )
    info["seconds"] = round(seconds, 1)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.save(cached, denoised)
    return denoised, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", required=True)
    parser.add_argument("--budget", default="steps:800", help="steps:N or default")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--spec", default="ours", help="the trained variant, e.g. ours[...]")
    parser.add_argument("--outputs", type=Path, help="folder that keeps the network outputs")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    budget = Budget.parse(args.budget)
    rows = load_rows(args.out)
    for name in args.cases:
        case = load_case(name)
        for seed in args.seeds:
            network, info = network_output(case, budget, seed, args.spec, args.outputs)
            started = time.perf_counter()
            kept = keep_structure(case.noisy, network)
            step_seconds = round(time.perf_counter() - started, 2)
            trained = info.get("seconds", 0.0)
            for method, image in (("network", network), ("kept", kept)):
                row = summary(case.clean, image, case.inserts, case.tissues)
                rows[row_key(name, method, budget, seed)] = {
                    "case": name,
                    "method": method,
                    "budget": str(budget),
                    "seed": seed,
                    **row,
                    "seconds": trained + (step_seconds if method == "kept" else 0.0),
                    "info": {**info, "structure_seconds": step_seconds},
                }
                print(name, method, budget, seed, {k: row.get(k) for k in ("psnr", "psnr_fg",
                      "insert_median", "insert_kept90")}, flush=True)  # fmt: skip
            save_rows(args.out, rows)


if __name__ == "__main__":
    main()
