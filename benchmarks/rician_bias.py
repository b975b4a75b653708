"""MRI with and without the Rician bias correction, for every method.

Whole-image PSNR on the Rician phantoms is capped by the background floor: any denoiser that keeps
the mean (NS-N2N, NLM, BM3D, ...) ends near sigma sqrt(pi/2) where the clean image is 0. This script
prints that cap (the PSNR of the exact Rician mean E[M | clean], the best a mean-keeping denoiser can
score) and scores every method's output as it is and after ``napari_nsn2n.rician.remove_rician_bias``
with one blind sigma (``estimate_rician_sigma`` on the noisy stack) shared by all methods.

    cd benchmarks && python rician_bias.py --cases mri5 mri7 mri9 --steps 2400 --tta --threads 1 \
        --out results/rician/2400.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from quality import (
    add_lambda_rc_option,
    headline_scores,
    load_case,
    run_baselines,
    run_ours,
    save,
    training_overrides,
)

from napari_nsn2n.config import LR_SCHEDULES
from napari_nsn2n.method.rician import estimate_rician_sigma, remove_rician_bias, rician_mean
from napari_nsn2n.pipeline import apply_model

LEVELS = {"mri5": 0.05, "mri7": 0.07, "mri9": 0.09}


def run_case(name: str, args) -> dict:
    case = load_case(name)
    true_sigma = LEVELS[name] * float(case.clean.max())
    sigma = estimate_rician_sigma(case.noisy)
    outputs = {"noisy": case.noisy}
    for method, (out, _, _) in run_baselines(
        case, args.steps, args.threads, args.baselines
    ).items():
        outputs[method] = out
    if not args.skip_ours:
        _, seconds, info = run_ours(case, args.steps, args.threads, **training_overrides(args))
        outputs["ours"] = apply_model(info["bundle"], case.noisy, device="cpu")
        if args.tta:
            outputs["ours_tta"] = apply_model(info["bundle"], case.noisy, device="cpu", tta=True)
        print(f"{name}: ours {seconds:.0f} s (LPF, training, inference)", flush=True)
    rows = {}
    for method, out in outputs.items():
        rows[method] = {
            "as_is": headline_scores(case.clean, out),
            "unbiased": headline_scores(case.clean, remove_rician_bias(out, sigma)),
        }
        print(name, method, rows[method], flush=True)
    cap = headline_scores(case.clean, rician_mean(case.clean, true_sigma).astype(np.float32))
    return {
        "sigma_true": round(true_sigma, 5),
        "sigma_estimated": round(sigma, 5),
        "mean_keeping_cap": cap,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", nargs="+", default=list(LEVELS))
    parser.add_argument("--baselines", nargs="*", default=["gaussian", "nlm", "bm3d"])
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="late")
    add_lambda_rc_option(parser)
    parser.add_argument("--tta", action="store_true", help="also score ours with TTA")
    parser.add_argument("--skip-ours", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results.setdefault("commands", []).append("python rician_bias.py " + " ".join(sys.argv[1:]))
    for name in args.cases:
        results[name] = run_case(name, args)
        save(results, args)


if __name__ == "__main__":
    main()
