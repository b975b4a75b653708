"""Variants of the structure step (``method.structure``) scored on saved network outputs.

Reads the outputs ``structure.py --outputs DIR`` kept (``DIR/CASE_BUDGET_SEED.npy``), so no
training runs here. Each variant is a JSON object of :func:`put_back`'s keywords; the printed
differences are against the network's output alone.

    python benchmarks/structure_variants.py --cases ct_ramp ct_hann --outputs /tmp/nets \
        --variants '{"k": 4}' '{"k": 4, "detect": "pair"}' --out variants.json

``detect``: ``mean3`` (the library's rule: the gate field is the 3-slice mean residual, and that
mean is put back) or ``pair`` (the gate field is the better-agreeing of the two 2-slice means,
slice with the one above or the one below, and that mean is put back: a structure two slices
thick keeps its full amplitude instead of 2/3). ``k``: gate in robust noise levels; ``sigma``:
in-plane Gaussian of the gate field (px); ``ramp``: the weight rises from k to (1 + ramp) k.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import load_case
from scoring import summary
from structure import cached_output

from napari_nsn2n.method.structure import robust_level


def _neighbour(stack: np.ndarray, step: int) -> np.ndarray:
    """Slice i + step at slice i; the edge slice repeats itself."""
    index = np.clip(np.arange(len(stack)) + step, 0, len(stack) - 1)
    return stack[index]


def put_back(
    noisy: np.ndarray,
    network: np.ndarray,
    detect: str = "mean3",
    k: float = 4.0,
    sigma: float = 1.5,
    ramp: float = 1.0,
) -> np.ndarray:
    """The network's output with the gated residual mean of ``detect`` added (whole stack)."""
    residual = noisy.astype(np.float32) - network.astype(np.float32)
    above, below = _neighbour(residual, 1), _neighbour(residual, -1)

    def smooth(image: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(image, (0, sigma, sigma))

    if detect == "mean3":
        mean = (residual + above + below) / 3
        field = smooth(mean)
        level = robust_level(field)
    elif detect == "pair":
        mean_above, mean_below = (residual + above) / 2, (residual + below) / 2
        field_above, field_below = smooth(mean_above), smooth(mean_below)
        level = robust_level(field_above)
        pick_above = np.abs(field_above) >= np.abs(field_below)
        field = np.where(pick_above, field_above, field_below)
        mean = np.where(pick_above, mean_above, mean_below)
    else:
        raise ValueError(f"detect must be mean3 or pair, not {detect!r}")
    weight = np.clip(np.abs(field) / (k * level) - 1.0, 0.0, ramp) / ramp
    return network + weight * mean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", required=True)
    parser.add_argument("--outputs", type=Path, required=True, help="structure.py --outputs")
    parser.add_argument("--budget", default="default", help="the budget the outputs were run at")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", nargs="+", required=True, help="JSON keyword objects")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = json.loads(args.out.read_text()) if args.out.exists() else {}
    for name in args.cases:
        case = load_case(name)
        network = np.load(cached_output(args.outputs, name, args.budget, args.seed))
        base = summary(case.clean, network, case.inserts, case.tissues)
        rows[f"{name} network"] = base
        for text in args.variants:
            options = json.loads(text)
            row = summary(case.clean, put_back(case.noisy, network, **options), case.inserts,
                          case.tissues)  # fmt: skip
            rows[f"{name} {json.dumps(options, sort_keys=True)}"] = row
            print(f"{name} {options}: PSNR {row['psnr'] - base['psnr']:+.2f} / "
                  f"{row['psnr_fg'] - base['psnr_fg']:+.2f} dB, inserts "
                  f"{base.get('insert_median')} -> {row.get('insert_median')}", flush=True)  # fmt: skip
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
