"""Live W_i display: a labels volume in the input's shape, updated as the threshold moves.

Label values (``method.masks.MASK_*``): 0 = no pair (last slice of a volume), 1 = matched (W = 1, drawn
faint blue and nearly transparent), 2 = unmatched (W = 0, opaque magenta: the structural
differences between slice i and i+1, which the reconstruction and RC losses ignore).

Speed: a threshold change recomputes only the slice(s) on screen (one ``diff <= th`` of H x W,
written in place into the labels data, then a refresh of that layer), then the rest of the volume is
filled in idle chunks after a short debounce. Slices the user scrolls to before that are filled
on demand. The matched fraction is estimated at once from a sorted sample of the differences and
made exact from per-pair counts when the fill is complete.

Large stacks (labels volume above ``LARGE_MASK_BYTES``, e.g. a memmap or dask layer of thousands of
slices): the labels live in a zeroed temporary file instead of memory and only the slices shown are
written (no whole-volume fill, which would read every difference at each threshold); the fraction
stays the sampled estimate. In a view of the slice axis (3D, orthogonal) the fill runs in idle chunks.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

import napari
import numpy as np
from napari.utils.colormaps import DirectLabelColormap
from qtpy.QtCore import QObject, QTimer, Signal

from ...method.masks import (
    MASK_MATCHED,
    MASK_NO_PAIR,
    MASK_UNMATCHED,
    PairDifferences,
    write_labels,
)
from ...stack import SliceLayout, evenly_spaced
from .common import MASK_ROLE, move_over, placement, remove_layer, role_of

MASK_COLORS = {
    None: (0.0, 0.0, 0.0, 0.0),
    MASK_NO_PAIR: (0.0, 0.0, 0.0, 0.0),
    MASK_MATCHED: (0.25, 0.55, 1.0, 0.12),
    MASK_UNMATCHED: (1.0, 0.1, 0.85, 1.0),
}
MASK_LAYER = "W mask"
SAMPLE_SIZE = 1_000_000
SAMPLE_PAIRS = 64
LARGE_MASK_BYTES = 256 << 20  # labels volumes above this: temporary file, filled where shown
DEBOUNCE_MS = 200
CHUNK_PIXELS = 8_000_000  # about 8 pairs of 1k x 1k per idle step


def mask_colormap() -> DirectLabelColormap:
    return DirectLabelColormap(color_dict=dict(MASK_COLORS))


class MaskController(QObject):
    """Keeps ``labels.data`` equal to ``differences.mask_volume(threshold)``, fast where it shows.

    ``shown_pairs`` returns the pair indices k on screen, or None when the slice axis itself is
    displayed (an orthogonal or 3D view), in which case every change fills the whole volume.
    """

    fraction_changed = Signal(float, bool)  # (matched fraction, exact)

    def __init__(
        self,
        differences: PairDifferences,
        labels,
        shown_pairs: Callable[[], list[int] | None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.differences = differences
        self.labels = labels
        self.shown_pairs = shown_pairs
        self.layout = differences.layout
        n_pairs = len(differences.pair_starts)
        self._filled_at = np.full(n_pairs, np.nan)  # threshold each pair was last written for
        self._matched = np.zeros(n_pairs, dtype=np.int64)
        self._per_pair = int(np.prod(differences.differences.shape[1:]))
        self._scratch = np.empty(differences.differences.shape[1:], dtype=bool)
        self._sample = difference_sample(differences.differences)
        self.fill_in_background = not is_large(labels.data.shape)
        self.threshold = float("nan")
        self._fill_next = 0
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._start_fill)
        self._idle = QTimer(self)
        self._idle.setInterval(0)
        self._idle.timeout.connect(self._fill_chunk)
        self.chunk_pairs = max(1, CHUNK_PIXELS // max(self._per_pair, 1))

    def pair_at(self, index: int, volume: int = 0) -> int | None:
        """Pair k starting at slice ``index`` of ``volume`` (None for a volume's last slice)."""
        return self.layout.pair_number(index, volume)

    def _write(self, k: int) -> None:
        """Write pair k's W into the labels (``masks.write_labels``: the one ``diff <= th``)."""
        target = self.labels.data[self.layout.pair_key(k)]
        self._matched[k] = write_labels(
            self.differences.differences[k], self.threshold, target, self._scratch
        )
        self._filled_at[k] = self.threshold

    def set_threshold(self, threshold: float) -> None:
        """Update what is on screen now; fill the rest after the debounce."""
        self.threshold = float(threshold)
        self._idle.stop()
        shown = self.shown_pairs()
        if shown is None:
            self._fill_view()
            return
        for k in shown:
            self._write(k)
        if shown:
            self.labels.refresh(thumbnail=False, highlight=False, extent=False)
        exact = self._complete()
        self.fraction_changed.emit(self.fraction(), exact)
        if not exact and self.fill_in_background:
            self._debounce.start()

    def start(self, threshold: float) -> None:
        """First display: the shown slice, then the whole volume at once unless it is large."""
        self.set_threshold(threshold)
        if self.fill_in_background:
            self.fill_all()

    def _fill_view(self) -> None:
        """The slice axis is on screen: every pair is needed (in idle chunks when large)."""
        if self._complete():
            return
        if self.fill_in_background:
            self.fill_all()
        else:
            self._debounce.start()

    def on_view_changed(self) -> None:
        """The displayed slice moved: write it now if it is stale."""
        if not np.isfinite(self.threshold):
            return
        shown = self.shown_pairs()
        if shown is None:
            self._fill_view()
            return
        stale = [k for k in shown if self._filled_at[k] != self.threshold]
        for k in stale:
            self._write(k)
        if stale:
            self.labels.refresh(thumbnail=False, highlight=False, extent=False)

    def fill_all(self) -> None:
        """Write every stale pair now (synchronously)."""
        self._debounce.stop()
        self._idle.stop()
        for k in np.flatnonzero(self._filled_at != self.threshold):
            self._write(int(k))
        self.labels.refresh()
        self.fraction_changed.emit(self.fraction(), True)

    def _start_fill(self) -> None:
        self._fill_next = 0
        self._idle.start()

    def _fill_chunk(self) -> None:
        stale = np.flatnonzero(self._filled_at[self._fill_next :] != self.threshold)
        for k in stale[: self.chunk_pairs] + self._fill_next:
            self._write(int(k))
        if len(stale) <= self.chunk_pairs:
            self._idle.stop()
            self.labels.refresh()  # thumbnail and any other view
            self.fraction_changed.emit(self.fraction(), True)
        else:
            self._fill_next += int(stale[self.chunk_pairs - 1]) + 1

    def _complete(self) -> bool:
        return bool(np.all(self._filled_at == self.threshold))

    @property
    def busy(self) -> bool:
        return self._debounce.isActive() or self._idle.isActive()

    def fraction(self) -> float:
        """Matched fraction: exact when every pair is filled, else from the sorted sample."""
        if self._complete():
            return float(self._matched.sum() / max(self._matched.size * self._per_pair, 1))
        hits = np.searchsorted(self._sample, np.float32(self.threshold), side="right")
        return float(hits / max(self._sample.size, 1))

    def stop(self) -> None:
        self._debounce.stop()
        self._idle.stop()


def is_large(shape: tuple[int, ...]) -> bool:
    return int(np.prod(shape)) > LARGE_MASK_BYTES


def empty_mask(shape: tuple[int, ...]) -> np.ndarray:
    """A zeroed uint8 labels volume: in memory, or for a large stack a sparse temporary memmap
    (deleted when closed) whose pages are only the slices written."""
    if is_large(shape):
        return np.memmap(tempfile.TemporaryFile(prefix="nsn2n-mask-"), np.uint8, "w+", shape=shape)
    return np.zeros(shape, dtype=np.uint8)


def difference_sample(differences: np.ndarray, size: int = SAMPLE_SIZE) -> np.ndarray:
    """A sorted sample of about ``size`` differences from up to ``SAMPLE_PAIRS`` evenly spaced
    pairs (only those pairs are read: a spilled memmap of thousands of pairs stays on disk)."""
    n = len(differences)
    picks = evenly_spaced(n, SAMPLE_PAIRS)
    per_pair = max(1, size // len(picks))
    rng = np.random.default_rng(0)
    parts = []
    for k in picks:
        flat = np.asarray(differences[k]).reshape(-1)
        parts.append(flat if flat.size <= per_pair else flat[rng.integers(0, flat.size, per_pair)])
    return np.sort(np.concatenate(parts))


def mask_layer(viewer: napari.Viewer, source: Any, shape: tuple[int, ...]) -> Any:
    """The plugin's ``W mask`` labels layer over ``source``, in ``shape``: one layer, reused and
    moved as the input changes (found by its role, so a renamed one is found too)."""
    existing = next((lay for lay in viewer.layers if role_of(lay) == MASK_ROLE), None)
    if existing is not None and existing.data.shape == tuple(shape):
        move_over(existing, source)
        existing.visible = True
        return existing
    remove_layer(viewer, existing)
    labels = viewer.add_labels(
        empty_mask(tuple(shape)),
        name=MASK_LAYER,
        opacity=0.6,
        colormap=mask_colormap(),
        **placement(source, MASK_ROLE),
    )
    labels.editable = False
    viewer.layers.selection.active = source
    return labels


def pairs_on_screen(viewer: napari.Viewer, source: Any, layout: SliceLayout) -> list[int] | None:
    """The pair shown in the viewer (``[k]``, ``[]`` on a last slice), or None when the slice
    axis itself is displayed (an orthogonal or 3D view)."""
    dims = viewer.dims
    displayed = [d - (dims.ndim - len(layout.shape)) for d in dims.displayed]
    if layout.slice_axis in displayed or (
        layout.volume_axis is not None and layout.volume_axis in displayed
    ):
        return None
    index, volume = layout.locate(source.world_to_data(dims.point))
    k = layout.pair_number(index, volume)
    return [] if k is None else [k]
