"""Helpers shared by the dock widget's panels: their base class, new layers placed over a
source layer, and connecting / disconnecting a group of viewer events."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import napari
import numpy as np
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QGroupBox, QWidget

if TYPE_CHECKING:
    from .input_panel import InputPanel

NEED_LAYER = "Choose an image layer (and, for 4D data, the slice axis) first"

Links = Iterable[tuple[Any, Callable]]  # (event emitter or Qt signal, slot) pairs


def layer_geometry(layer) -> dict[str, Any]:
    """Keyword arguments that put a new layer exactly over ``layer`` (scale, translate, affine,
    metadata)."""
    return {
        "scale": tuple(layer.scale),
        "translate": tuple(layer.translate),
        "affine": layer.affine.affine_matrix.copy(),
        "metadata": dict(layer.metadata),
    }


def placement(layer) -> dict[str, Any]:
    """:func:`layer_geometry` without the metadata (for the mask and preview layers)."""
    geometry = layer_geometry(layer)
    geometry.pop("metadata")
    return geometry


def result_layer_kwargs(layer, name: str) -> dict[str, Any]:
    """``add_image`` kwargs for a stack computed from ``layer``: its scale, translate, affine and
    metadata (through ``layers.derived_layer_kwargs`` when available, so saving the result writes
    the source's spacing and header)."""
    try:
        from ..layers import derived_layer_kwargs

        return derived_layer_kwargs(layer, name)
    except Exception:
        return {"name": name, **layer_geometry(layer)}


def add_result_layer(viewer: napari.Viewer, source, data: np.ndarray, name: str):
    """Add ``data`` computed from ``source`` as an image layer with the source's geometry,
    metadata, colormap and contrast; returns the new layer."""
    result = viewer.add_image(
        data, colormap=source.colormap.name, **result_layer_kwargs(source, name)
    )
    with contextlib.suppress(Exception):
        result.contrast_limits_range = tuple(source.contrast_limits_range)
        result.contrast_limits = tuple(source.contrast_limits)
    return result


def remove_layer(viewer: napari.Viewer, layer) -> None:
    """Remove ``layer`` from the viewer if it is (still) there."""
    if layer is not None and layer in viewer.layers:
        viewer.layers.remove(layer)


def connect_all(links: Links) -> None:
    for signal, slot in links:
        signal.connect(slot)


def disconnect_all(links: Links) -> None:
    """Disconnect each pair, ignoring those already gone."""
    for signal, slot in links:
        with contextlib.suppress(Exception):
            signal.disconnect(slot)


class Panel(QGroupBox):
    """A titled section of the dock widget that works on the layer picked in ``source`` and
    reports worker errors to ``on_error``; ``shutdown()`` makes late worker results no-ops."""

    changed = Signal()  # something the buttons depend on changed

    def __init__(
        self,
        title: str,
        viewer: napari.Viewer,
        source: InputPanel,
        on_error: Callable[[Exception], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(title, parent)
        self.viewer = viewer
        self.source = source
        self._on_error = on_error
        self.closed = False

    def shutdown(self) -> None:
        self.closed = True
