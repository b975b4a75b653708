"""Where NS-N2N's error goes at two thresholds: MSE on the foreground, the background, in-plane edges,
pixels whose clean value changes along z, and flat pixels (docs/benchmarks.md, CT Hann).

    python benchmarks/error_regions.py --case ct_hann --thresholds 0.0088 0.0176 --steps 800
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import sobel

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import foreground, load_case, run_ours


def regions(clean: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks on the clean stack (values relative to its range)."""
    span = float(clean.max() - clean.min())
    fg = foreground(clean)
    edge = np.hypot(sobel(clean, axis=1), sobel(clean, axis=2))
    z_change = np.abs(np.diff(clean, axis=0, append=clean[-1:])) / span
    return {
        "foreground": fg,
        "background": ~fg,
        "in-plane edge (top 10 %)": edge > np.quantile(edge, 0.9),
        "z-change > 0.02": z_change > 0.02,
        "flat": (edge < np.quantile(edge, 0.5)) & (z_change < 0.002),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--case", default="ct_hann")
    parser.add_argument("--thresholds", nargs="+", type=float, default=[0.0088, 0.0176])
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    case = load_case(args.case)
    clean = case.clean.astype(np.float64)
    span = float(clean.max() - clean.min())
    masks = regions(clean)
    for th in args.thresholds:
        out, _, _ = run_ours(case, args.steps, args.threads, threshold=th)
        err2 = ((out.astype(np.float64) - clean) / span) ** 2
        total = err2.sum()
        parts = ", ".join(
            f"{name}: MSE {err2[m].mean():.2e} ({m.mean():.0%} of pixels, "
            f"{err2[m].sum() / total:.0%} of the error)"
            for name, m in masks.items()
        )
        print(f"{args.case} th {th:g}: MSE {err2.mean():.2e}; {parts}", flush=True)


if __name__ == "__main__":
    main()
