"""Where the network's output goes: into the result in input units, straight away, or, when
structure is kept (``method.structure``), once every slice is there to compare neighbours."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from ..events import StageProgress
from ..method.structure import kept_structure
from ..resources import allocate
from ..stack import PreparedStack


class OutputWriter:
    """``write(first, block)`` per block of normalised network output, then iterate ``finish()``
    (``StageProgress("structure", ...)`` per slice while the structure step runs)."""

    def __init__(
        self,
        prepared: PreparedStack,
        result: np.ndarray,
        cast: bool,
        in_units: Callable[[np.ndarray], np.ndarray] | None,
        keep_structure: bool,
    ) -> None:
        self.prepared, self.result, self.cast, self.in_units = prepared, result, cast, in_units
        shape = prepared.slices.shape
        self.pending = allocate(shape, np.float32, spill=prepared.lazy) if keep_structure else None

    def write(self, first: int, block: np.ndarray) -> None:
        if self.pending is None:
            self.prepared.write(self.result, first, block, self.cast, self.in_units)
        else:
            self.pending[first : first + len(block)] = block

    def finish(self) -> Iterator[StageProgress]:
        """Write the held slices with the kept structure added (nothing to do otherwise)."""
        if self.pending is None:
            return
        slices, pending = self.prepared.slices, self.pending
        additions = kept_structure(slices.__getitem__, pending.__getitem__, len(pending))
        for index, add in enumerate(additions):
            block = (pending[index] + add)[None]
            self.prepared.write(self.result, index, block, self.cast, self.in_units)
            yield StageProgress("structure", index + 1, len(pending))
        self.pending = None
