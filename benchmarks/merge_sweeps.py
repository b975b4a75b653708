"""Carry threshold-sweep points over to a sweep of the current rule where the masks are unchanged.

    python benchmarks/merge_sweeps.py benchmarks/results benchmarks/results/threshold_k10 \
        --cases mri5 mri7 mri9 microscopy

For each case, the points of ``OLD/threshold_sweep_<case>.json`` (with the seed-0 point its report
took from quality.py's table) are added to
``NEW/threshold_sweep_<case>.json`` (new points win on the same th and seed) and the record's
``suggested`` is set to the current ``suggest_threshold``. Only allowed where the current LPF is the
one the old points were trained with: the in-plane (wavelet) noise estimate, i.e. where
``masks.lpf_noise_estimate`` does not switch to the inter-slice estimate; otherwise it stops.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import SHAPE, load_case
from threshold_sweep import _seed_rows

from napari_nsn2n.pipeline import compute_differences
from napari_nsn2n.stack import PreparedStack


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--cases", nargs="+", required=True)
    args = parser.parse_args(argv)
    args.new.mkdir(parents=True, exist_ok=True)
    for name in args.cases:
        case = load_case(name)
        prepared = PreparedStack.from_array(case.noisy)
        diffs = compute_differences(prepared)
        if diffs.correlated_noise:
            raise SystemExit(f"{name}: the LPF changed (inter-slice sigma); re-run its sweep")
        old = json.loads((args.old / f"threshold_sweep_{name}.json").read_text())
        path = args.new / f"threshold_sweep_{name}.json"
        new = json.loads(path.read_text()) if path.exists() else {"points": {}, "commands": []}
        auto = diffs.suggest_threshold()
        # the old report took a missing seed-0 point from quality.py's table of the time: keep it
        carried = dict(old["points"])
        for th, runs in _seed_rows(old, args.old).items():
            for run in runs:
                if "from" in run:
                    carried.setdefault(f"{th:.5f}/seed{run['seed']}", {**run, "th": th})
        merged = {
            **old,
            **{k: v for k, v in new.items() if k != "points"},
            "case": name,
            "shape": list(SHAPE),
            "suggested": auto,
            "points": {**carried, **new["points"]},
            "carried_over": f"{len(carried)} points from {args.old / path.name} (and its quality table)",
        }
        merged["commands"] = [*old.get("commands", []), *new.get("commands", [])]
        path.write_text(json.dumps(merged, indent=1))
        print(f"{name}: suggested {auto:.4f}, {len(merged['points'])} points", flush=True)


if __name__ == "__main__":
    main()
