"""Wall time of whole denoising runs, as the CLI makes them, for several settings in one process.

    python benchmarks/end_to_end.py --threads 2
    python benchmarks/end_to_end.py --cases ct_ramp@48x256x256 ct_ramp@16x128x128 \\
        --methods ours "ours[batch_size=4,patch_size=48]" --threads 2

Each run goes through the pipeline from the noisy stack to the denoised one (LPF, threshold
suggestion, training, inference, the structure step: ``methods.run_engine`` at the ``default``
budget) and is scored against the clean stack. Every method after the first is also given as a
ratio of the first one's seconds, on the same case, in the same process: the figure that carries
over between days and machines. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cases import load_case
from methods import Budget, ours, parse_spec
from scoring import summary

CASES = ["ct_ramp@48x256x256", "ct_ramp@16x128x128"]  # the performance target and a 1/12 crop
# the quick preset (`--preset quick`, spelled out as overrides of the default), then the default
METHODS = [
    "ours[lr_schedule='plateau',validation_fraction=0.05,stop_patience=3,batch_size=4,"
    "patch_size=48,min_steps=4000]",
    "ours",
]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", nargs="+", default=CASES)
    parser.add_argument("--methods", nargs="+", default=METHODS, help="ours[key=value,...]")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the rows here (JSON)")
    args = parser.parse_args(argv)
    rows = []
    for name in args.cases:
        case = load_case(name)
        first = None
        for spec in args.methods:
            method, overrides = parse_spec(spec)
            if method != "ours":
                raise SystemExit(f"{spec!r}: only ours[...] runs end to end here")
            denoised, seconds, info = ours(
                case, Budget("default"), args.seed, args.threads, overrides
            )
            scores = summary(case.clean, denoised, case.inserts, case.tissues)
            first = first or seconds
            row = {"case": name, "method": spec, "seconds": round(seconds, 1), **info, **scores}
            rows.append(row)
            print(
                f"{name:22s} {spec[:60]:60s} {seconds:7.1f} s (x{seconds / first:.2f})"
                f"  {info['steps']} steps  PSNR {scores['psnr']:.2f} / fg {scores['psnr_fg']:.2f}",
                flush=True,
            )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
