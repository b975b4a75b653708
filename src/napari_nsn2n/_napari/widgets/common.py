"""What the dock widget's panels share: their base class, the layers the plugin adds (tagged
with a role so the picker and the panels recognise them, placed and scaled like their source),
progress in napari's activity dock, and connecting a group of events."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any

import napari
import numpy as np
from napari.utils import progress
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QGroupBox, QLabel, QWidget

from ...display import display_range
from ..layers import derived_layer_kwargs
from ..state import WidgetState

ROLE_KEY = "nsn2n_role"  # layer metadata: which of the plugin's own layers this is
MASK_ROLE, PREVIEW_ROLE = "mask", "preview"
ACTIVITY_DELAY_S = 0.5  # a stage shows in napari's activity dock once it has run this long

Links = Iterable[tuple[Any, Callable]]  # (event emitter or Qt signal, slot) pairs


def role_of(layer: Any) -> str | None:
    """The plugin role of ``layer`` ("mask", "preview"), None for any other layer."""
    return (layer.metadata or {}).get(ROLE_KEY)


def placement(source: Any, role: str) -> dict[str, Any]:
    """``add_*`` kwargs that put a plugin layer of ``role`` exactly over ``source``: its scale,
    translate, affine, units and axis labels (so napari never mixes units across layers)."""
    return {
        "scale": tuple(source.scale),
        "translate": tuple(source.translate),
        "affine": source.affine.affine_matrix.copy(),
        "units": tuple(str(u) for u in source.units),
        "axis_labels": tuple(str(a) for a in source.axis_labels),
        "metadata": {ROLE_KEY: role},
    }


def move_over(layer: Any, source: Any) -> None:
    """Give an existing plugin layer the geometry and units of ``source``."""
    geometry = placement(source, role_of(layer) or "")
    layer.scale, layer.translate = geometry["scale"], geometry["translate"]
    layer.affine = geometry["affine"]
    layer.units, layer.axis_labels = geometry["units"], geometry["axis_labels"]


def add_result_layer(viewer: napari.Viewer, source: Any, data: np.ndarray, name: str) -> Any:
    """Add ``data`` computed from ``source`` as an image layer with the source's geometry, units,
    metadata (``layers.derived_layer_kwargs``), colormap and contrast; returns the added layer
    (whose name napari may have made unique)."""
    result = viewer.add_image(
        data,
        colormap=source.colormap.name,
        contrast_limits=tuple(source.contrast_limits),
        **derived_layer_kwargs(source, name),
    )
    result.contrast_limits_range = tuple(source.contrast_limits_range)
    return result


def add_residual_layer(viewer: napari.Viewer, source: Any, denoised: np.ndarray) -> Any:
    """Add ``source - denoised`` (``pipeline.residual``: what was removed) beside ``source``,
    grey on a range symmetric about 0, so that structure in it (a smoothed insert or edge)
    stands out against the noise."""
    from ...pipeline import residual

    removed = residual(source.data, denoised)
    found = display_range(removed)  # the 0.5-99.5 percentiles of a strided sample
    spread = max(abs(found[0]), abs(found[1])) if found is not None else 1.0
    layer = viewer.add_image(
        removed,
        colormap="gray",
        contrast_limits=(-spread, spread),
        **derived_layer_kwargs(source, f"{source.name} residual"),
    )
    layer.visible = False  # shown on demand: the denoised layer stays on top
    return layer


def remove_layer(viewer: napari.Viewer, layer: Any) -> None:
    """Remove ``layer`` from the viewer if it is (still) there."""
    if layer is not None and layer in viewer.layers:
        viewer.layers.remove(layer)


def connect_all(links: Links) -> None:
    for signal, slot in links:
        signal.connect(slot)


def disconnect_all(links: Links) -> None:
    """Disconnect each pair, ignoring those already gone."""
    for signal, slot in links:
        with contextlib.suppress(TypeError, RuntimeError, ValueError):
            signal.disconnect(slot)


def wrapped_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label


class Activity:
    """One entry in napari's activity dock (``napari.utils.progress``), fed from the main thread
    with (done, total) and removed by ``close``. It is created only once a stage has run for
    ``delay_s``: creating one costs the GUI thread a few hundred ms (napari builds the dock's
    bar and pumps the event loop inside), not worth it for a stage that ends within a second."""

    def __init__(self, description: str, delay_s: float = ACTIVITY_DELAY_S) -> None:
        self.description = description
        self.delay_s = delay_s
        self._bar: progress | None = None
        self._since: float | None = None

    def update(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self._since is None:
            self._since = now
        if self._bar is None:
            if now - self._since < self.delay_s or done >= total:
                return
            self._bar = progress(total=total, desc=self.description)
        if self._bar.total != total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        self._since = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class Panel(QGroupBox):
    """A titled section of the dock widget working on the shared ``state``; ``shutdown()`` makes
    late worker results no-ops once the widget closes."""

    changed = Signal()  # something the dock widget's layout depends on changed

    def __init__(
        self, title: str, viewer: napari.Viewer, state: WidgetState, parent: QWidget | None = None
    ) -> None:
        super().__init__(title, parent)
        self.viewer = viewer
        self.state = state
        self.closed = False

    def shutdown(self) -> None:
        self.closed = True
