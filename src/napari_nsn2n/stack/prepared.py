"""A checked input as normalised (M, H, W) float32 slices, read lazily when it is too big."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..resources import allocate, fits_in_memory
from .checks import check_stack
from .layout import SliceLayout
from .normalize import Normalizer


class NormalizedSlices:
    """The (M, H, W) float32 slices of an input array, normalised on access.

    Nothing is read until a slice is asked for, so a memmap, zarr or dask array larger than memory
    can be filtered, trained on and denoised slice by slice.
    """

    dtype = np.dtype(np.float32)
    ndim = 3

    def __init__(self, data, layout: SliceLayout, normalizer: Normalizer) -> None:
        self.data, self.layout, self.normalizer = data, layout, normalizer
        plane = tuple(layout.shape[a] for a in layout.order[-2:])
        self.shape = (layout.n_volumes * layout.n_slices, *plane)

    def __len__(self) -> int:
        return self.shape[0]

    def _read(self, m: int) -> np.ndarray:
        return self.normalizer.forward(np.asarray(self.data[self.layout.index_of(m)]))

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self._read(int(key) % len(self))
        if isinstance(key, slice):
            indices = range(*key.indices(len(self)))
            out = np.empty((len(indices), *self.shape[1:]), dtype=np.float32)
            for k, m in enumerate(indices):
                out[k] = self._read(m)
            return out
        raise TypeError(
            f"NormalizedSlices indices must be ints or slices, not {type(key).__name__}"
        )

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)


def is_lazy(data) -> bool:
    """True for arrays that should be read slice by slice (memmaps, zarr, dask...)."""
    return isinstance(data, np.memmap) or not isinstance(data, np.ndarray)


@dataclass
class PreparedStack:
    """A checked input as normalised (M, H, W) float32 slices plus how to map results back.

    ``slices`` is an in-memory array, or for memmap / zarr / dask inputs too big to load
    (``storage.fits_in_memory``) a :class:`NormalizedSlices` that reads one slice at a time;
    ``in_memory`` forces either.
    """

    layout: SliceLayout
    normalizer: Normalizer
    slices: np.ndarray | NormalizedSlices

    @classmethod
    def from_array(
        cls,
        data: np.ndarray,
        axis: int | str | None = None,
        axes: str | None = None,
        normalizer: Normalizer | None = None,
        in_memory: bool | None = None,
    ) -> PreparedStack:
        layout = SliceLayout(tuple(np.shape(data)), check_stack(data, axis, axes))
        normalizer = normalizer or Normalizer.fit(data)
        slices = NormalizedSlices(data, layout, normalizer)
        if in_memory is None:
            in_memory = not is_lazy(data) or fits_in_memory(slices.shape)
        if in_memory:
            slices = normalizer.forward(layout.to_slices(np.asarray(data)))
        return cls(layout, normalizer, slices)

    @property
    def lazy(self) -> bool:
        return isinstance(self.slices, NormalizedSlices)

    def restore(self, slices: np.ndarray, cast: bool = False) -> np.ndarray:
        """Normalised (M, H, W) slices in memory back to the input's shape and units."""
        return self.normalizer.inverse(self.layout.from_slices(np.asarray(slices)), cast=cast)

    def slices_in_units(self, picks: np.ndarray) -> np.ndarray:
        """Slices ``picks`` of the (M, H, W) stack in the input's units (float32)."""
        return self.normalizer.inverse(np.stack([self.slices[int(i)] for i in picks]))

    def allocate_output(self, cast: bool = False) -> np.ndarray:
        """An array of the input's shape for the result (a temporary memmap for big lazy inputs)."""
        dtype = self.normalizer.dtype if cast else np.float32
        return allocate(self.layout.shape, dtype, spill=self.lazy)

    def write(
        self,
        out: np.ndarray,
        first: int,
        block: np.ndarray,
        cast: bool = False,
        in_units: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        """Store normalised slices ``first, first + 1, ...`` into ``out`` in the input's units,
        after ``in_units`` (a correction applied in input units, e.g. the Rician bias removal)."""
        block = self.normalizer.inverse(block)
        if in_units is not None:
            block = in_units(block)
        if cast:
            block = self.normalizer.cast(block)
        for k, plane in enumerate(block):
            out[self.layout.index_of(first + k)] = plane
