"""A reference-free quality curve: the NS-N2N loss on pixels held out from training.

For noise independent across slices, at a matched pixel (W = 1)

    E[(f(x_i) - x_{i+1})^2] = E[(f(x_i) - s)^2] + sigma^2

because f(x_i) does not depend on the noise of slice i+1: the reconstruction loss on targets the
network was never trained on tracks its error against the clean slice, plus a constant. A fixed
random set of small blocks of every slice (``holdout_map``) is left out of the training loss and
the loss on them is measured every few steps on a few evenly spaced pairs.
"""

from __future__ import annotations

import numpy as np
import torch

from ..stack import evenly_spaced

HOLDOUT_BLOCK = 8  # side of the held-out blocks (pixels): larger than the noise correlation
MAX_PAIRS = 8  # pairs the held-out loss is measured on
MAX_SIDE = 128  # centre crop of larger slices: at 256 px a check cost 8 steps (NOTES §24)


def holdout_map(height: int, width: int, fraction: float, seed: int) -> np.ndarray:
    """A (height, width) boolean map: True on a random ``fraction`` of ``HOLDOUT_BLOCK``-sized
    blocks (at least one block when ``fraction`` > 0)."""
    rows, cols = -(-height // HOLDOUT_BLOCK), -(-width // HOLDOUT_BLOCK)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    blocks = rng.random((rows, cols)) < fraction
    if fraction > 0 and not blocks.any():
        blocks[rows // 2, cols // 2] = True
    full = np.repeat(np.repeat(blocks, HOLDOUT_BLOCK, axis=0), HOLDOUT_BLOCK, axis=1)
    return full[:height, :width]


class HeldOutLoss:
    """The symmetric reconstruction loss of Eq. 4 on the held-out pixels (W = 1 there) of up to
    ``MAX_PAIRS`` evenly spaced pairs, centre-cropped to ``MAX_SIDE``."""

    def __init__(
        self,
        slices: np.ndarray,
        masks,
        pair_starts: np.ndarray,
        holdout: np.ndarray,
    ) -> None:
        height, width = holdout.shape
        top, left = max(0, (height - MAX_SIDE) // 2), max(0, (width - MAX_SIDE) // 2)
        window = (slice(top, top + MAX_SIDE), slice(left, left + MAX_SIDE))
        picks = evenly_spaced(len(pair_starts), MAX_PAIRS)
        x_a, x_b, weight = [], [], []
        for k in picks:
            start = int(pair_starts[k])
            x_a.append(np.asarray(slices[start], np.float32)[window])
            x_b.append(np.asarray(slices[start + 1], np.float32)[window])
            w = holdout[window].astype(np.float32)
            if masks is not None:
                w = w * np.asarray(masks[int(k)], np.float32)[window]
            weight.append(w)
        self.x_a = torch.from_numpy(np.stack(x_a)[:, None])
        self.x_b = torch.from_numpy(np.stack(x_b)[:, None])
        self.weight = torch.from_numpy(np.stack(weight)[:, None])
        self.count = float(self.weight.sum())

    @torch.no_grad()
    def __call__(
        self, model: torch.nn.Module, device: torch.device, amp_dtype: torch.dtype | None
    ) -> float:
        """The held-out loss of ``model`` now (NaN when no held-out pixel is matched)."""
        if self.count == 0:
            return float("nan")
        total = 0.0
        for k in range(len(self.x_a)):  # one pair at a time: bounded memory on large slices
            x_a, x_b, w = (t[k : k + 1].to(device) for t in (self.x_a, self.x_b, self.weight))
            with torch.autocast(device.type, amp_dtype, enabled=amp_dtype is not None):
                f_a, f_b = model(torch.cat([x_a, x_b])).float().split(1)
            total += float((((f_a - x_b) * w) ** 2).sum() + (((f_b - x_a) * w) ** 2).sum())
        return 0.5 * total / self.count
