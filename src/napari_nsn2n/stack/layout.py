"""How an input array maps to a (M, H, W) stack of slices, its pairs, and back."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def evenly_spaced(count: int, at_most: int) -> np.ndarray:
    """Up to ``at_most`` evenly spaced indices of ``count``."""
    return np.unique(np.linspace(0, count - 1, min(at_most, count)).astype(int))


@dataclass(frozen=True)
class SliceLayout:
    """How an input array maps to a (M, H, W) stack of slices and back.

    3D: the slice axis moves to the front. 4D (e.g. TZYX with slice axis Z): the other leading axis
    holds independent volumes, laid one after another; pairs never cross a volume boundary.
    """

    shape: tuple[int, ...]
    slice_axis: int

    @property
    def volume_axis(self) -> int | None:
        if len(self.shape) == 3:
            return None
        return next(a for a in range(len(self.shape) - 2) if a != self.slice_axis)

    @property
    def n_volumes(self) -> int:
        return 1 if self.volume_axis is None else self.shape[self.volume_axis]

    @property
    def n_slices(self) -> int:
        return self.shape[self.slice_axis]

    @property
    def order(self) -> tuple[int, ...]:
        """Axis order that puts (volume, slice, y, x) or (slice, y, x) in front."""
        lead = (
            [self.slice_axis] if self.volume_axis is None else [self.volume_axis, self.slice_axis]
        )
        rest = [a for a in range(len(self.shape)) if a not in lead]
        return (*lead, *rest)

    def to_slices(self, data: np.ndarray) -> np.ndarray:
        """A (M, H, W) view or copy of ``data`` with the slices along axis 0."""
        moved = np.transpose(data, self.order)
        return moved.reshape((-1, *moved.shape[-2:]))

    def from_slices(self, slices: np.ndarray) -> np.ndarray:
        moved_shape = tuple(self.shape[a] for a in self.order)
        inverse = np.argsort(self.order)
        return np.transpose(slices.reshape(moved_shape), inverse)

    def index_of(self, m: int) -> tuple:
        """Index into the input array of slice ``m`` of the (M, H, W) stack (its plane stays in
        the input's axis order)."""
        return self.plane_key(*reversed(divmod(m, self.n_slices)))

    def plane_key(self, index: int, volume: int = 0) -> tuple:
        """Index into the input array of slice ``index`` (along the slice axis) of ``volume``."""
        key: list = [slice(None)] * len(self.shape)
        key[self.slice_axis] = index
        if self.volume_axis is not None:
            key[self.volume_axis] = volume
        return tuple(key)

    def slice_number(self, index: int, volume: int = 0) -> int:
        """Slice m of the (M, H, W) stack that is slice ``index`` of ``volume``."""
        return volume * self.n_slices + index

    def pair_number(self, index: int, volume: int = 0) -> int | None:
        """Pair k that starts at slice ``index`` of ``volume`` (None for a volume's last slice)."""
        if not 0 <= index < self.n_slices - 1:
            return None
        return volume * (self.n_slices - 1) + index

    def pair_key(self, k: int) -> tuple:
        """Index into the input array of the first slice of pair ``k``."""
        volume, index = divmod(k, self.n_slices - 1)
        return self.plane_key(index, volume)

    def locate(self, position) -> tuple[int, int]:
        """(slice index, volume) nearest to a data-space ``position`` (one entry per input axis),
        clipped to the stack."""
        position = np.asarray(position, dtype=float)
        index = int(np.clip(np.round(position[self.slice_axis]), 0, self.n_slices - 1))
        volume = 0
        if self.volume_axis is not None:
            volume = int(np.clip(np.round(position[self.volume_axis]), 0, self.n_volumes - 1))
        return index, volume

    def pair_starts(self) -> np.ndarray:
        """Indices i of the (M, H, W) stack such that (i, i+1) is a pair of neighbouring slices."""
        n = self.n_slices
        return np.array(
            [v * n + i for v in range(self.n_volumes) for i in range(n - 1)], dtype=np.int64
        )
