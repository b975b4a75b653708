"""Guided neighbour targets for the unmatched pixels (W = 0), after NGPS (Cho & Yoo, ECCV 2026).

NS-N2N drops the pixels where neighbouring slices differ (W = 0) from L_recon: nothing there
holds the output to the data, and the network fills them with what it learned elsewhere, which
smooths the small structures that change between slices. A guided target gives those pixels a
Noise2Noise target of their own: around pixel p of slice i, the patches of the low-pass guide of
the neighbouring slice j that best match the guide patch of slice i at p (sum of squared
differences over a ``patch`` x ``patch`` window, searched over ``search`` x ``search`` offsets)
point to where the same structure lies in slice j; the mean of the raw slice-j pixels at the
``topk`` best offsets is the target. Its noise is slice j's, independent of slice i's, so it
teaches denoising there as it does elsewhere.

The guide is the LPF of Eq. 3 (non-local means + median), which the masks already compute.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

GUIDED_SEARCH = 15  # NGPS's search window
GUIDED_PATCH = 7  # NGPS's patch
GUIDED_TOPK = 4  # NGPS's Top-K
TILE_ROWS = 32  # rows of output per tile: bounds the (search^2, rows, W) working arrays


def _box_sum(values: torch.Tensor, size: int) -> torch.Tensor:
    """Sums over ``size`` x ``size`` windows of the last two axes (valid part only)."""
    summed = F.pad(values.cumsum(-1), (1, 0))
    rows = summed[..., size:] - summed[..., :-size]
    summed = F.pad(rows.cumsum(-2), (0, 0, 1, 0))
    return summed[..., size:, :] - summed[..., :-size, :]


def guided_target(
    guide_self: np.ndarray,
    guide_neighbour: np.ndarray,
    raw_neighbour: np.ndarray,
    search: int = GUIDED_SEARCH,
    patch: int = GUIDED_PATCH,
    topk: int = GUIDED_TOPK,
    needed: np.ndarray | None = None,
) -> np.ndarray:
    """The guided target for every pixel of one slice from its neighbour (all (H, W) float32):
    the mean of ``raw_neighbour`` at the ``topk`` offsets within ``search`` whose ``patch``
    patches of ``guide_neighbour`` best match ``guide_self``'s patch at the pixel. With
    ``needed`` (boolean (H, W)), row tiles without a needed pixel are left as ``raw_neighbour``."""
    if search % 2 == 0 or patch % 2 == 0:
        raise ValueError("search and patch must be odd")
    height, width = guide_self.shape
    reach, half = search // 2, patch // 2
    margin = reach + half
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32))[None, None]  # noqa: E731
    me = F.pad(as_tensor(guide_self), (half, half, half, half), mode="reflect")[0, 0]
    other = F.pad(as_tensor(guide_neighbour), (margin,) * 4, mode="reflect")[0, 0]
    raw = F.pad(as_tensor(raw_neighbour), (reach,) * 4, mode="reflect")[0, 0]
    out = np.array(raw_neighbour, dtype=np.float32, copy=True)
    offsets = [(dy, dx) for dy in range(search) for dx in range(search)]
    for top in range(0, height, TILE_ROWS):
        rows = min(TILE_ROWS, height - top)
        if needed is not None and not needed[top : top + rows].any():
            continue
        centre = me[top : top + rows + 2 * half]  # (rows + 2 half, W + 2 half)
        shifted = torch.stack(
            [
                other[top + dy : top + dy + rows + 2 * half, dx : dx + width + 2 * half]
                for dy, dx in offsets
            ]
        )
        ssd = _box_sum((shifted - centre).square_(), patch)  # (S^2, rows, W)
        best = torch.topk(ssd, topk, dim=0, largest=False).indices  # (K, rows, W)
        candidates = torch.stack(
            [raw[top + dy : top + dy + rows, dx : dx + width] for dy, dx in offsets]
        )
        out[top : top + rows] = torch.gather(candidates, 0, best).mean(dim=0).numpy()
    return out


def pair_targets(guide, raw, start: int, matched: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Noise2Noise targets of pair (start, start + 1) for ``f(x_start)`` and
    ``f(x_start+1)``: the other raw slice where W = 1 (``matched``), the guided target where
    W = 0. ``guide`` and ``raw`` are indexed by slice number (arrays, or a dict of the two)."""
    a, b = start, start + 1
    unmatched = ~matched
    forward = np.where(matched, raw[b], guided_target(guide[a], guide[b], raw[b], needed=unmatched))
    backward = np.where(
        matched, raw[a], guided_target(guide[b], guide[a], raw[a], needed=unmatched)
    )
    return forward.astype(np.float32), backward.astype(np.float32)
