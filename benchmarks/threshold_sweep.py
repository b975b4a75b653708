"""Threshold sweep: NS-N2N PSNR against th on every benchmark case, with the same training budget per
point, compared with the blind suggestion (``suggest_threshold``) and the paper's value.

    python benchmarks/threshold_sweep.py                       # all cases, one seed
    python benchmarks/threshold_sweep.py --cases mri5 --seeds 0 1
    python benchmarks/threshold_sweep.py --quick               # 2 cases, 3 points, 60 steps

Writes benchmarks/results/threshold_sweep_<case>.json after every point (safe to poll / resume).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import (
    CASES,
    RESULTS,
    SHAPE,
    add_lambda_rc_option,
    budget_config,
    load_case,
    slice_metrics,
    training_overrides,
)

from napari_nsn2n.config import LR_SCHEDULES
from napari_nsn2n.pipeline import compute_differences, denoise
from napari_nsn2n.stack import PreparedStack

THRESHOLDS = [0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 1.0]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", nargs="*", default=list(CASES))
    parser.add_argument("--thresholds", nargs="*", type=float, default=THRESHOLDS)
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--lr-schedule", choices=LR_SCHEDULES, help="TrainConfig.lr_schedule (default: step)"
    )
    add_lambda_rc_option(parser)
    parser.add_argument("--only-suggested", action="store_true", help="(re)run only the auto point")
    parser.add_argument(
        "--factors",
        nargs="*",
        type=float,
        default=[],
        help="also sweep these multiples of the suggested th (e.g. 0.5 2 4)",
    )
    parser.add_argument(
        "--skip-suggested",
        action="store_true",
        help="leave out the auto point (e.g. when quality.py's table row is the same run)",
    )
    parser.add_argument("--no-paper", action="store_true", help="leave out the paper's th")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--conditions",
        action="store_true",
        help="no training: score the paper's two conditions with the clean reference",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--report", action="store_true", help="print the sweep table from the JSON files in --out"
    )
    parser.add_argument(
        "--bar",
        action="store_true",
        help="print the suggestion's mean PSNR (from --out) against the best blind baseline of "
        "the 800-step quality tables in benchmarks/results",
    )
    args = parser.parse_args(argv)
    if args.report:
        print(report(args.out))
        return
    if args.bar:
        print(bar(args.out))
        return
    if args.quick:
        args.cases, args.thresholds, args.steps = args.cases[:2], [0.005, 0.02, 1.0], 60
    args.out.mkdir(parents=True, exist_ok=True)
    if args.conditions:
        conditions(args)
        return
    for name in args.cases:
        case = load_case(name)
        prepared = PreparedStack.from_array(case.noisy)
        diffs = compute_differences(prepared)
        n_pairs = len(prepared.layout.pair_starts())
        schedule = training_overrides(args)
        auto = diffs.suggest_threshold(budget_config(args.steps, n_pairs, args.threads, **schedule))
        path = args.out / f"threshold_sweep_{name}.json"
        record = json.loads(path.read_text()) if path.exists() else {"points": {}}
        record.update(
            case=name,
            shape=list(SHAPE),
            steps=args.steps,
            suggested=auto,
            paper=case.paper_th,
        )
        record.setdefault("commands", []).append(
            "python benchmarks/threshold_sweep.py " + " ".join(sys.argv[1:])
        )
        extra = {round(auto * f, 5) for f in args.factors} | set(args.thresholds)
        paper = [] if args.no_paper else [case.paper_th]
        points = [auto, *paper, *sorted(extra - {auto, *paper})]
        if args.only_suggested:
            points = [auto]
        elif args.skip_suggested:
            points = points[1:]
        print(f"{name}: suggested th {auto:.4f}, paper {case.paper_th}", flush=True)
        for th in points:
            for seed in args.seeds:
                key = f"{th:.5f}/seed{seed}"
                if key in record["points"] and not args.only_suggested:
                    continue  # resume: this point is already in the record
                config = budget_config(args.steps, n_pairs, args.threads, seed=seed, **schedule)
                start = time.perf_counter()
                out = denoise(case.noisy, threshold=th, config=config, differences=diffs)
                seconds = time.perf_counter() - start
                m = slice_metrics(case.clean, out)
                record["points"][key] = {
                    "th": th,
                    "seed": seed,
                    "matched": diffs.matched_fraction(th),
                    "psnr": float(m["psnr"].mean()),
                    "psnr_fg": float(m["psnr_fg"][np.isfinite(m["psnr_fg"])].mean()),
                    "ssim": float(m["ssim"].mean()),
                    "seconds": round(seconds, 1),
                }
                print(
                    f"  th {th:.4f} seed {seed}: matched {diffs.matched_fraction(th):.1%} "
                    f"PSNR {record['points'][key]['psnr']:.2f} fg "
                    f"{record['points'][key]['psnr_fg']:.2f} ({seconds:.0f} s)",
                    flush=True,
                )
                path.write_text(json.dumps(record, indent=1))


def _seed_rows(record: dict, folder: Path) -> dict[float, list[dict]]:
    """Per th, the runs of every seed; a missing seed-0 auto point is taken from quality.py's
    NS-N2N row of the same case and budget (the same run: same config, seed and threshold), in
    ``folder`` or in benchmarks/results."""
    name, auto = record["case"], record["suggested"]
    runs: dict[float, list[dict]] = {}
    for p in record["points"].values():
        # points stored at th rounded to 5 decimals (e.g. "2 x the old suggestion") count as the
        # suggestion when they are within 0.1 % of it
        th = auto if abs(p["th"] - auto) <= 1e-3 * auto else p["th"]
        runs.setdefault(th, []).append(p)
    if not any(p["seed"] == 0 for p in runs.get(auto, [])):
        for table in [
            *sorted(folder.glob("quality_*.json")),
            *sorted(RESULTS.glob("quality_*.json")),
        ]:
            data = json.loads(table.read_text())
            row = data.get("table", {}).get(name, {}).get("ours")
            settings = data.get("settings", {})
            same_budget = (
                settings.get("steps") == record["steps"]
                and not settings.get("preset")
                and settings.get("seed", 0) == 0
            )
            if row and abs(row["th"] - auto) < 1e-9 and same_budget:
                runs.setdefault(auto, []).append(
                    {
                        "th": auto,
                        "seed": 0,
                        "matched": row["matched"],
                        "psnr": row["psnr"][0],
                        "psnr_fg": row["psnr_fg"][0],
                        "from": table.name,
                    }
                )
                break
    return runs


def _mean(runs: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in runs]))


def _cell(runs: list[dict], key: str) -> str:
    """Mean over seeds, with the spread (max - min) and the number of seeds when more than one."""
    if len(runs) == 1:
        return f"{runs[0][key]:.2f}"
    values = [r[key] for r in runs]
    return f"{np.mean(values):.2f} (±{(max(values) - min(values)) / 2:.2f}, {len(values)} seeds)"


BASELINES = ("gaussian", "nlm", "bm3d", "bm3d_vst", "nb2nb")


def bar(folder: Path) -> str:
    """Markdown: per case, the suggestion's PSNR (whole / fg, mean over its seeds in ``folder``)
    against the best blind baseline of the 800-step quality tables (``quality_<case>[_v2].json``
    in benchmarks/results; baseline rows do not depend on the threshold rule)."""
    lines = [
        "| case | best baseline (whole) | ours, suggestion | best baseline (fg) | ours fg |",
        "|---|---|---|---|---|",
    ]
    for path in sorted(folder.glob("threshold_sweep_*.json")):
        record = json.loads(path.read_text())
        name = record["case"]
        runs = _seed_rows(record, folder).get(record["suggested"], [])
        rows = {}
        for table in (RESULTS / f"quality_{name}.json", RESULTS / f"quality_{name}_v2.json"):
            if table.exists():
                rows.update(json.loads(table.read_text()).get("table", {}).get(name, {}))
        base = {m: rows[m] for m in BASELINES if m in rows}
        if not runs or not base:
            continue
        whole = max(base, key=lambda m: base[m]["psnr"][0])
        fg = max(base, key=lambda m: base[m]["psnr_fg"][0])
        ours, ours_fg = _mean(runs, "psnr"), _mean(runs, "psnr_fg")
        lines.append(
            f"| {name} | {whole} {base[whole]['psnr'][0]:.2f} | {ours:.2f} "
            f"({ours - base[whole]['psnr'][0]:+.2f}, {len(runs)} seeds) | "
            f"{fg} {base[fg]['psnr_fg'][0]:.2f} | {ours_fg:.2f} ({ours_fg - base[fg]['psnr_fg'][0]:+.2f}) |"
        )
    return "\n".join(lines)


def report(folder: Path) -> str:
    """Markdown: per case, PSNR (whole / foreground; mean over seeds where several ran) at every
    th, the best, and the gap of the suggestion to the best."""
    lines = [
        "| case | th | matched | PSNR | PSNR fg | note |",
        "|---|---|---|---|---|---|",
    ]
    summary = []
    for path in sorted(folder.glob("threshold_sweep_*.json")):
        record = json.loads(path.read_text())
        name, auto = record["case"], record["suggested"]
        runs = _seed_rows(record, folder)
        if not runs:
            continue
        best = max(runs, key=lambda th: _mean(runs[th], "psnr"))
        best_fg = max(runs, key=lambda th: _mean(runs[th], "psnr_fg"))
        for th in sorted(runs):
            note = []
            if th == auto:
                source = next((r["from"] for r in runs[th] if "from" in r), None)
                note.append("**auto**" + (f" (seed 0 from {source})" if source else ""))
            if abs(th - record["paper"]) < 1e-9:
                note.append("paper")
            if th == best:
                note.append("best PSNR")
            if th == best_fg:
                note.append("best fg")
            lines.append(
                f"| {name} | {th:.4f} | {100 * runs[th][0]['matched']:.1f} % | "
                f"{_cell(runs[th], 'psnr')} | {_cell(runs[th], 'psnr_fg')} | {', '.join(note)} |"
            )
        if auto in runs:
            gap = _mean(runs[best], "psnr") - _mean(runs[auto], "psnr")
            gap_fg = _mean(runs[best_fg], "psnr_fg") - _mean(runs[auto], "psnr_fg")
            summary.append(
                f"{name}: auto {_mean(runs[auto], 'psnr'):.2f} dB vs best "
                f"{_mean(runs[best], 'psnr'):.2f} (gap {gap:.2f}); foreground gap {gap_fg:.2f} dB"
            )
    return "\n".join([*lines, "", *summary])


def conditions(args) -> None:
    """Condition (1): share of structural pixels (clean neighbours differ by > 0.02 of the range)
    with W = 0; condition (2): share of residual-noise pixels (clean neighbours differ by < 0.002)
    with W = 1; plus the residual-noise scale from the clean reference vs the blind estimate."""
    from napari_nsn2n.method.noise_estimates import HALF_NORMAL_MEDIAN
    from napari_nsn2n.method.threshold import residual_noise_scale

    table = {}
    for name in args.cases:
        case = load_case(name)
        prepared = PreparedStack.from_array(case.noisy)
        diffs = compute_differences(prepared)
        d = np.asarray(diffs.differences)
        clean = prepared.normalizer.forward(case.clean)
        clean_diff = np.abs(clean[:-1] - clean[1:])
        structure, flat = clean_diff > 0.02, clean_diff < 0.002
        noise = d[flat & (d > 0)]
        auto = diffs.suggest_threshold()
        rows = {}
        for th in sorted({*args.thresholds, auto, case.paper_th}):
            rows[f"{th:.4f}"] = {
                "cond1_structure_unmatched": round(float(np.mean(d[structure] > th)), 3),
                "cond2_noise_matched": round(float(np.mean(d[flat] <= th)), 4),
                "matched": round(float(np.mean(d <= th)), 3),
            }
        table[name] = {
            "suggested": round(auto, 4),
            "paper": case.paper_th,
            "scale_blind": round(residual_noise_scale(d), 5),
            "scale_reference": round(float(np.median(noise)) / HALF_NORMAL_MEDIAN, 5),
            "noise_q99": round(float(np.quantile(noise, 0.99)), 4),
            "structure_fraction": round(float(structure.mean()), 3),
            "thresholds": rows,
        }
        print(
            name,
            json.dumps({k: v for k, v in table[name].items() if k != "thresholds"}),
            flush=True,
        )
        for key, row in rows.items():
            print(f"   th {key}: {row}", flush=True)
    table["command"] = "python benchmarks/threshold_sweep.py " + " ".join(sys.argv[1:])
    (args.out / "threshold_conditions.json").write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
