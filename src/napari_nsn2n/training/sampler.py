"""Training batches of NS-N2N: random patches of neighbouring slice pairs with their W_i."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..config import TrainConfig


class PairSampler:
    """Batches of x_i, x_{i+1} and W_i patches, as a dict of the loss's keyword arrays.

    An epoch carries as many pixels as the paper's (every pair once, whole slices): each pair
    contributes ``ceil(H * W / patch_area)`` random patches, in random order. With ``augment``,
    each batch gets one random flip / quarter turn (the same for x_i, x_{i+1} and W_i). Pixels of
    ``holdout`` (a (H, W) boolean map) get weight 0: they are kept for the held-out loss.
    With ``targets`` (forward, backward: (P, H, W) each, ``method.guided.pair_targets``) a batch
    also carries the targets of f(x_i) and f(x_{i+1}) and the L_recon weight (1 but on held-out
    pixels), so every pixel is supervised. With ``config.lambda_self > 0`` a batch also carries
    ``unmatched`` = 1 - W_i (0 on held-out pixels), the weight of the L_self term.
    """

    def __init__(
        self,
        slices: np.ndarray,
        masks: np.ndarray | None,
        pair_starts: np.ndarray,
        config: TrainConfig,
        rng: np.random.Generator,
        holdout: np.ndarray | None = None,
        targets: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.slices, self.masks, self.pair_starts = slices, masks, np.asarray(pair_starts)
        self.targets = targets
        self.with_unmatched = config.lambda_self > 0
        self.keep = None if holdout is None else (~holdout).astype(np.float32)
        self.batch_size, self.augment, self.rng = config.batch_size, config.augment, rng
        height, width = slices.shape[-2:]
        self.patch = config.patch_shape(height, width)
        self.patches_per_pair = config.patches_per_pair(height, width)
        self.batches_per_epoch = config.steps_per_epoch(len(self.pair_starts), height, width)

    def epoch(self) -> Iterator[tuple[np.ndarray, ...]]:
        n_pairs = len(self.pair_starts)
        order = np.concatenate(
            [self.rng.permutation(n_pairs) for _ in range(self.patches_per_pair)]
        )
        for first in range(0, len(order), self.batch_size):
            yield self._gather(order[first : first + self.batch_size])

    def _gather(self, pair_ids: np.ndarray) -> dict[str, np.ndarray]:
        ph, pw = self.patch
        height, width = self.slices.shape[-2:]
        count = len(pair_ids)
        x_a = np.empty((count, 1, ph, pw), np.float32)
        x_b = np.empty_like(x_a)
        weight = np.ones((count, 1, ph, pw), np.float32)
        unmatched = np.zeros_like(weight) if self.with_unmatched else None
        guided = self.targets is not None
        if guided:
            t_a, t_b = np.empty_like(x_a), np.empty_like(x_a)
            recon_weight = np.ones_like(x_a)
        for k, pid in enumerate(pair_ids):
            top = int(self.rng.integers(0, height - ph + 1))
            left = int(self.rng.integers(0, width - pw + 1))
            window = (slice(top, top + ph), slice(left, left + pw))
            start = int(self.pair_starts[pid])
            x_a[k, 0] = self.slices[start][window]
            x_b[k, 0] = self.slices[start + 1][window]
            if self.masks is not None:
                weight[k, 0] = self.masks[pid][window]
            if unmatched is not None:
                unmatched[k, 0] = 1.0 - weight[k, 0]
                if self.keep is not None:
                    unmatched[k, 0] *= self.keep[window]
            if self.keep is not None:
                weight[k, 0] *= self.keep[window]
            if guided:
                t_a[k, 0] = self.targets[0][pid][window]
                t_b[k, 0] = self.targets[1][pid][window]
                if self.keep is not None:
                    recon_weight[k, 0] = self.keep[window]
        batch = {"x_a": x_a, "x_b": x_b, "weight": weight}
        if guided:
            batch.update(target_a=t_a, target_b=t_b, recon_weight=recon_weight)
        if unmatched is not None:
            batch["unmatched"] = unmatched
        return batch

    def transform(self) -> tuple[int, bool]:
        """A random rotation (quarter turns) and flip for one batch, or none without augment."""
        if not self.augment:
            return 0, False
        return int(self.rng.integers(4)), bool(self.rng.integers(2))
