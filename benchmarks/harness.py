"""The benchmark harness: named experiments over cases x methods x budgets x seeds.

    python benchmarks/harness.py table --cases ct_ramp mri5 --methods ours paper nlm \
        --budget steps:800 --seeds 0 1 2 --out benchmarks/results/table_800.json
    python benchmarks/harness.py table --cases microscopy --methods ngps ngps_nsn2n \
        --budget seconds:120 --ngps /path/to/NGPS --out ...
    python benchmarks/harness.py report benchmarks/results/table_800.json --against ours

Experiments:
* ``table``: every (case, method, seed) at one budget; the denoised stack is scored against the
  clean reference (PSNR / SSIM whole and foreground, insert contrast where the case has inserts),
  with the seconds it took (LPF included for ours) and what the method chose (th, steps...).
  Rows already in ``--out`` are kept and skipped, so a long table can be run in pieces.
* ``curve``: PSNR against training time for ours (a variant via ``ours[...]``): the model is
  scored every ``--every`` steps (scoring time not counted); the end-to-end seconds of the run, its
  final PSNR, and the first time it came within 0.3 dB of ``--reference`` dB (e.g. the converged
  PSNR of a long run) are recorded.
* ``speed``, ``memory``, ``memory-widget``, ``package``: per-stage speed (``speed.py``), bounded
  memory on a stack larger than memory (``scale.py``) and in the widget (``widget_scale.py``), a
  bioimage.io package's reproduction of the model (``package_tolerance.py``); their options:
  ``harness.py speed --help``.
* ``report``: the rows of one or more JSON files as one table per case: mean and spread over
  seeds, and with ``--against M`` the paired difference to method M (same case, budget, seed).

Cases are in ``cases.py`` (``TUNED``: the six the defaults were fitted on; ``HELD_OUT``), methods
in ``methods.py``. Everything runs on the CPU, ``--threads`` torch threads per process.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import CASES, TUNED, load_case
from methods import METHODS, Budget, parse_spec
from scoring import summary

RESULTS = Path(__file__).resolve().parent / "results"


def row_key(case: str, spec: str, budget: Budget, seed: int) -> str:
    return f"{case}|{spec}|{budget}|{seed}"


def load_rows(path: Path) -> dict:
    return json.loads(path.read_text())["rows"] if path.exists() else {}


def save_rows(path: Path, rows: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"rows": rows}, indent=1, default=str))
    tmp.replace(path)


def table(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    budget = Budget.parse(args.budget)
    rows = load_rows(args.out)
    for name in args.cases:
        case = load_case(name)
        noisy_key = row_key(name, "noisy", budget, 0)
        if noisy_key not in rows:
            rows[noisy_key] = {
                "case": name,
                "method": "noisy",
                "budget": str(budget),
                "seed": 0,
                **summary(case.clean, case.noisy, case.inserts, case.tissues),
                "seconds": 0.0,
            }
        for spec in args.methods:
            method_name, overrides = parse_spec(spec)
            method = METHODS[method_name]
            seeds = (
                args.seeds if method_name not in ("gaussian", "nlm", "bm3d", "bm3d_vst") else [0]
            )
            for seed in seeds:
                key = row_key(name, spec, budget, seed)
                if key in rows and not args.rerun:
                    continue
                extra = {"checkout": args.ngps} if getattr(method, "needs_checkout", False) else {}
                started = time.strftime("%H:%M:%S")
                out, seconds, info = method(case, budget, seed, args.threads, overrides, **extra)
                rows[key] = {
                    "case": name,
                    "method": spec,
                    "budget": str(budget),
                    "seed": seed,
                    **summary(case.clean, out, case.inserts, case.tissues),
                    "seconds": round(seconds, 1),
                    "info": info,
                }
                save_rows(args.out, rows)
                shown = {k: rows[key][k] for k in ("psnr", "psnr_fg", "ssim", "seconds")}
                print(f"[{started}] {name} {spec} {budget} seed {seed}: {shown}", flush=True)


def curve(args: argparse.Namespace) -> None:
    from curves import training_curve

    torch.set_num_threads(args.threads)
    rows = load_rows(args.out)
    budget = Budget.parse(args.budget)
    for name in args.cases:
        case = load_case(name)
        for spec in args.methods:
            for seed in args.seeds:
                key = row_key(name, f"curve:{spec}", budget, seed)
                if key in rows and not args.rerun:
                    continue
                row = training_curve(case, spec, budget, seed, args.threads, args.every)
                if args.reference is not None:
                    row["reference_psnr"] = args.reference
                    within = [p for p in row["points"] if p[2] >= args.reference - 0.3]
                    row["seconds_to_within_0.3dB"] = within[0][1] if within else None
                rows[key] = {
                    "case": name,
                    "method": f"curve:{spec}",
                    "budget": str(budget),
                    "seed": seed,
                    **row,
                }
                save_rows(args.out, rows)
                print(
                    f"{name} {spec} seed {seed}: final {row['psnr']} dB, "
                    f"{row['seconds']} s end to end, {row['steps']} steps",
                    flush=True,
                )


def report(args: argparse.Namespace) -> None:
    rows = {}
    for path in args.files:
        rows.update(load_rows(path))
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows.values():
        groups[(row["case"], row["budget"], row["method"])].append(row)
    metrics = ["psnr", "psnr_fg", "ssim", "seconds"]
    if any("insert_median" in r for r in rows.values()):
        metrics[3:3] = ["insert_median", "insert_kept90"]
    metrics.insert(3, "edge_gain")
    for case in sorted({k[0] for k in groups}):
        print(f"\n{case}")
        header = f"  {'budget':12s} {'method':40s}" + "".join(f"{m:>18s}" for m in metrics)
        if args.against:
            header += f"  {'d psnr':>14s} {'d psnr_fg':>14s}"
        print(header)
        for (c, budget, method), group in sorted(groups.items()):
            if c != case:
                continue
            cells = []
            for m in metrics:
                values = np.array([r[m] for r in group if m in r], dtype=float)
                cells.append(_mean_spread(values))
            line = f"  {budget:12s} {method:40s}" + "".join(f"{cell:>18s}" for cell in cells)
            if args.against and method != args.against:
                base = {r["seed"]: r for r in groups.get((c, budget, args.against), [])}
                for m in ("psnr", "psnr_fg"):
                    diffs = np.array(
                        [r[m] - base[r["seed"]][m] for r in group if r["seed"] in base]
                    )
                    line += f"  {_mean_spread(diffs, signed=True):>14s}"
            print(line)


def _mean_spread(values: np.ndarray, signed: bool = False) -> str:
    if values.size == 0:
        return "-"
    fmt = "+.2f" if signed else ".2f"
    if values.size == 1:
        return f"{values[0]:{fmt}}"
    return f"{values.mean():{fmt}} ({values.min():{fmt}}..{values.max():{fmt}})"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="experiment", required=True)
    tab = sub.add_parser("table", help="cases x methods x seeds at one budget")
    tab.add_argument("--cases", nargs="+", default=list(TUNED), help=f"of {', '.join(CASES)}")
    tab.add_argument("--methods", nargs="+", default=["ours"], help=", ".join(METHODS))
    tab.add_argument("--budget", default="steps:800", help="steps:N, seconds:T or default")
    tab.add_argument("--seeds", nargs="+", type=int, default=[0])
    tab.add_argument("--threads", type=int, default=1)
    tab.add_argument("--ngps", help="path of a checkout of github.com/cv-cho/NGPS")
    tab.add_argument("--rerun", action="store_true", help="recompute rows already in --out")
    tab.add_argument("--out", type=Path, default=RESULTS / "table.json")
    cur = sub.add_parser("curve", help="PSNR against training time for ours")
    cur.add_argument("--cases", nargs="+", default=["ct_ramp@48x256x256"])
    cur.add_argument("--methods", nargs="+", default=["ours"])
    cur.add_argument("--budget", default="default")
    cur.add_argument("--seeds", nargs="+", type=int, default=[0])
    cur.add_argument("--every", type=int, default=100)
    cur.add_argument("--reference", type=float, help="converged PSNR (dB) to measure against")
    cur.add_argument("--threads", type=int, default=2)
    cur.add_argument("--rerun", action="store_true")
    cur.add_argument("--out", type=Path, default=RESULTS / "curve.json")
    rep = sub.add_parser("report", help="print tables from result files")
    rep.add_argument("files", nargs="+", type=Path)
    rep.add_argument("--against", help="also show paired differences to this method")
    for name, (_module, text) in DELEGATED.items():
        sub.add_parser(name, help=text, add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.experiment in DELEGATED:
        import importlib

        importlib.import_module(DELEGATED[args.experiment][0]).main(rest)
        return
    if rest:
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    {"table": table, "curve": curve, "report": report}[args.experiment](args)


# experiments with options of their own (``harness.py NAME --help``)
DELEGATED = {
    "speed": ("speed", "per-stage speed: LPF, mask update, training step, inference"),
    "memory": ("scale", "resident memory denoising a memmap stack larger than RAM allows"),
    "memory-widget": ("widget_scale", "the widget's memory and responsiveness on a huge layer"),
    "package": ("package_tolerance", "a bioimage.io package's output against the model's own"),
}


if __name__ == "__main__":
    main()
