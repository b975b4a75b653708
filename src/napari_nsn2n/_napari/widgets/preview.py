"""The training preview: a layer over the input that shows the slice on screen denoised while
the run goes on (the engine denoises the slice ``index`` names every N steps)."""

from __future__ import annotations

from typing import Any

import napari
import numpy as np

from ...events import Preview
from ...stack import SliceLayout
from ..layers import derived_layer_kwargs
from ..workers import PreviewIndex
from .common import PREVIEW_ROLE, placement, remove_layer

PREVIEW_LAYER = "denoised (preview)"


class PreviewLayer:
    """The ``denoised (preview)`` layer of a run and the slice it follows."""

    def __init__(self, viewer: napari.Viewer) -> None:
        self.viewer = viewer
        self.index = PreviewIndex(0)  # read by the worker thread
        self.layer: Any = None
        self._source: Any = None
        self._layout: SliceLayout | None = None

    def start(self, source: Any, axis: int) -> None:
        """A run on ``source`` begins: a blank preview layer over it, following the view."""
        self.drop()
        self._source, self._layout = source, SliceLayout(tuple(source.data.shape), axis)
        self.follow_view()
        low = float(source.contrast_limits[0])
        self.layer = self.viewer.add_image(
            np.full(source.data.shape, low, dtype=np.float32),
            name=PREVIEW_LAYER,
            colormap=source.colormap.name,
            contrast_limits=tuple(source.contrast_limits),
            **placement(source, PREVIEW_ROLE),
        )
        self.viewer.layers.selection.active = source

    def follow_view(self) -> None:
        """Preview the slice on screen."""
        if self._source is None or self._layout is None:
            return
        position = self._source.world_to_data(self.viewer.dims.point)
        index, volume = self._layout.locate(position)
        self.index.index = self._layout.slice_number(index, volume)

    def show(self, event: Preview) -> bool:
        """Write a denoised slice into the layer; False when the layer is gone."""
        layer = self.layer
        if layer is None or layer not in self.viewer.layers or self._layout is None:
            return False
        layer.data[self._layout.index_of(event.index)] = event.image
        layer.refresh()
        return True

    def become_result(self, data: np.ndarray, name: str) -> Any:
        """Turn the preview layer into the result layer of ``data`` (the source's metadata,
        contrast and name, on top of the list) and return it; None when there is no preview
        layer to reuse. Removing a layer costs napari a full garbage collection on the GUI
        thread (about 1 s in a session with torch loaded), so the result takes its place."""
        layer, source = self.layer, self._source
        if layer is None or source is None or layer not in self.viewer.layers:
            return None
        if tuple(layer.data.shape) != tuple(np.shape(data)):
            return None
        kwargs = derived_layer_kwargs(source, name)
        layer.metadata = kwargs["metadata"]  # no preview role: a result is a stack like others
        layer.data = data
        layer.contrast_limits_range = tuple(source.contrast_limits_range)
        layer.contrast_limits = tuple(source.contrast_limits)
        layer.name = name
        layers = self.viewer.layers
        layers.move(layers.index(layer), len(layers))
        layers.selection.active = layer  # selected, as a newly added layer would be
        self.layer, self._source = None, None
        return layer

    def drop(self) -> None:
        """Remove the preview layer (the run ended)."""
        remove_layer(self.viewer, self.layer)
        self.layer, self._source = None, None
