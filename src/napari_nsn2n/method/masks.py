"""The weight masks W_i of Eq. 3 and the LPF differences they are thresholded from.

    W_i(u, v) = 1  if |LPF(x_i) - LPF(x_{i+1})|(u, v) <= th  else 0

``matched`` is the one place where that comparison is made; everything else (training masks,
the label volume, the matched fraction, the widget's live display) calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..stack import SliceLayout, evenly_spaced
from .lowpass import LowpassSettings
from .noise_model import PoissonGaussian
from .threshold import k_for_budget, suggest_threshold

if TYPE_CHECKING:
    from ..config import TrainConfig

# label values of the W volume: no pair (last slice of a volume), W = 1, W = 0
MASK_NO_PAIR, MASK_MATCHED, MASK_UNMATCHED = 0, 1, 2


def matched(differences: np.ndarray, threshold: float, out: np.ndarray | None = None) -> np.ndarray:
    """W as booleans: ``differences <= threshold`` (compared in float32)."""
    return np.less_equal(np.asarray(differences), np.float32(threshold), out=out)


def weight_masks(differences: np.ndarray, threshold: float) -> np.ndarray:
    """W as uint8 (1 = matched region, used by L_recon and L_RC)."""
    return matched(differences, threshold).view(np.uint8)


def matched_fraction(differences: np.ndarray, threshold: float) -> float:
    """Fraction of pixels with W = 1."""
    return float(np.count_nonzero(matched(differences, threshold)) / max(np.size(differences), 1))


def write_labels(
    differences: np.ndarray, threshold: float, out: np.ndarray, scratch: np.ndarray | None = None
) -> int:
    """Write one pair's W as labels into ``out`` (``MASK_MATCHED`` / ``MASK_UNMATCHED``); returns
    the number of matched pixels. ``scratch`` (bool, the pair's shape) avoids an allocation."""
    w = matched(differences, threshold, out=scratch)
    np.subtract(MASK_UNMATCHED, w, out=out, casting="unsafe")
    return int(np.count_nonzero(w))


def lpf_differences(lpf: np.ndarray, pair_starts: np.ndarray | None = None) -> np.ndarray:
    """|LPF_i - LPF_{i+1}| for each pair start i (default: every i < M - 1), float32 (P, H, W)."""
    starts = np.arange(len(lpf) - 1) if pair_starts is None else np.asarray(pair_starts)
    out = np.empty((len(starts), *lpf.shape[1:]), dtype=np.float32)
    for k, i in enumerate(starts):
        np.abs(np.subtract(lpf[i], lpf[i + 1], dtype=np.float32), out=out[k])
    return out


class ThresholdedMasks:
    """W_i computed per pair on access (no full mask volume in memory)."""

    def __init__(self, differences: np.ndarray, threshold: float) -> None:
        self.differences, self.threshold = differences, threshold

    def __len__(self) -> int:
        return len(self.differences)

    def __getitem__(self, pair: int) -> np.ndarray:
        return weight_masks(self.differences[pair], self.threshold)


@dataclass
class PairDifferences:
    """|LPF(x_i) - LPF(x_{i+1})| for every pair, computed once and reusable for any threshold."""

    differences: np.ndarray
    pair_starts: np.ndarray
    layout: SliceLayout
    settings: LowpassSettings
    stabilizer: PoissonGaussian | None = None  # set when the LPF ran on stabilised slices
    correlated_noise: bool = False  # the LPF was tuned with the inter-slice noise estimate
    lowpass: np.ndarray | None = None  # the LPF slices themselves, when kept (guided targets)

    def masks(self, threshold: float) -> np.ndarray:
        """W_i for every pair as uint8 (P, H, W)."""
        return weight_masks(self.differences, threshold)

    def lazy_masks(self, threshold: float) -> ThresholdedMasks:
        return ThresholdedMasks(self.differences, threshold)

    def matched_fraction(self, threshold: float) -> float:
        return matched_fraction(self.differences, threshold)

    def planned_steps(self, config: TrainConfig) -> int:
        """Optimiser steps ``config`` trains on this stack's pairs."""
        height, width = self.differences.shape[-2:]
        return config.planned_steps(len(self.pair_starts), height, width)

    def suggest_threshold(self, config: TrainConfig | None = None, max_pairs: int = 64) -> float:
        """``threshold.suggest_threshold`` on up to ``max_pairs`` evenly spaced pairs, with k from
        the LPF's noise estimate and the steps ``config`` will train (``threshold.k_for_budget``;
        without ``config`` the short-run k)."""
        picks = evenly_spaced(len(self.differences), max_pairs)
        steps = self.planned_steps(config) if config is not None else None
        k = k_for_budget(steps, self.correlated_noise)
        return suggest_threshold(np.stack([self.differences[i] for i in picks]), k=k)

    def resolve_threshold(self, threshold: float | str | None, config: TrainConfig | None) -> float:
        """``threshold`` as a float; None or "auto" is the suggestion for a run of ``config``."""
        if threshold is None or (isinstance(threshold, str) and threshold.lower() == "auto"):
            return self.suggest_threshold(config)
        return float(threshold)

    def mask_volume(self, threshold: float) -> np.ndarray:
        """Labels in the input's shape: W_i at slice i as 1 (matched, W = 1) or 2 (W = 0);
        0 on the last slice of each volume, which has no following neighbour."""
        labels = np.zeros(self.layout.shape, dtype=np.uint8)
        for pair in range(len(self.pair_starts)):
            write_labels(self.differences[pair], threshold, labels[self.layout.pair_key(pair)])
        return labels
