"""The input panel: which image layer to denoise, its slice axis and its voxel scale."""

from __future__ import annotations

import contextlib

import napari
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QWidget

from .common import connect_all, disconnect_all


class InputPanel(QGroupBox):
    """Picks an image layer of the viewer (following adds, removals, moves and renames) and the
    axis along which neighbouring slices are paired; remembers the axis chosen per layer."""

    changed = Signal()  # the picked layer or slice axis changed

    def __init__(self, viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__("Input stack", parent)
        self.viewer = viewer
        self.hidden = None  # a layer never offered (the training preview)
        self._layers: list = []
        self._axis_choice: dict[int, int | None] = {}  # per layer: the chosen slice axis
        self._named: list = []  # layers whose name events we follow

        form = QFormLayout(self)
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("The noisy image stack to denoise")
        self.layer_combo.currentIndexChanged.connect(self._on_layer_picked)
        form.addRow("Image layer", self.layer_combo)
        self.axis_combo = QComboBox()
        self.axis_combo.setToolTip(
            "Axis along which neighbouring slices are paired (z for a 3D stack; 4D data must "
            "choose z or t, the other leading axis holds independent volumes)"
        )
        self.axis_combo.currentIndexChanged.connect(self._on_axis_picked)
        form.addRow("Slice axis", self.axis_combo)
        self.scale_label = QLabel("-")
        self.scale_label.setToolTip("Voxel scale of the layer, carried over to every output layer")
        form.addRow("Voxel scale", self.scale_label)
        connect_all(self._links())

    def _links(self) -> list:
        events = self.viewer.layers.events
        return [
            (signal, self._on_layers_changed)
            for signal in (events.inserted, events.removed, events.moved)
        ]

    def disconnect_viewer(self) -> None:
        """Stop following the viewer's layer list."""
        disconnect_all(self._links())
        disconnect_all((layer.events.name, self._on_layers_changed) for layer in self._named)
        self._named = []

    @property
    def layer(self):
        """The picked image layer (or None)."""
        index = self.layer_combo.currentIndex()
        return self._layers[index] if 0 <= index < len(self._layers) else None

    @property
    def axis(self) -> int | None:
        """The picked slice axis (None when there is none, or 4D data has no choice yet)."""
        return self.axis_combo.currentData()

    def select_layer(self, layer) -> None:
        self.layer_combo.setCurrentIndex(self._layers.index(layer))

    def _on_layers_changed(self, event=None) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the layer list, keeping the pick (else the active layer, else the last one)."""
        current = self.layer
        images = [
            layer
            for layer in self.viewer.layers
            if isinstance(layer, napari.layers.Image) and layer is not self.hidden
        ]
        for layer in self._named:
            with contextlib.suppress(Exception):
                layer.events.name.disconnect(self._on_layers_changed)
        self._named = list(images)
        for layer in images:
            layer.events.name.connect(self._on_layers_changed)
        self._layers = images
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItems([layer.name for layer in images])
        if current in images:
            self.layer_combo.setCurrentIndex(images.index(current))
        elif images:
            active = self.viewer.layers.selection.active
            pick = active if active in images else images[-1]
            self.layer_combo.setCurrentIndex(images.index(pick))
        self.layer_combo.blockSignals(False)
        if self.layer is not current:
            self._on_layer_picked()

    def _refresh_axis_choices(self) -> None:
        layer = self.layer
        previous = None if layer is None else self._axis_choice.get(id(layer))
        self.axis_combo.blockSignals(True)
        self.axis_combo.clear()
        if layer is not None and layer.ndim >= 3:
            labels = list(self.viewer.dims.axis_labels)[-layer.ndim :]
            if layer.ndim == 4:
                self.axis_combo.addItem("choose the slice axis…", None)
            for axis in range(layer.ndim - 2):
                name = str(labels[axis]) if axis < len(labels) else ""
                if not name or name.lstrip("-").isdigit():  # napari's default labels: numbers
                    name = "z" if layer.ndim == 3 else ""
                self.axis_combo.addItem(f"axis {axis} ({name})" if name else f"axis {axis}", axis)
            found = self.axis_combo.findData(previous) if previous is not None else -1
            self.axis_combo.setCurrentIndex(max(found, 0))
        self.axis_combo.blockSignals(False)

    def _on_layer_picked(self, *args) -> None:
        self._refresh_axis_choices()
        self._source_changed()

    def _on_axis_picked(self, *args) -> None:
        if self.layer is not None:
            self._axis_choice[id(self.layer)] = self.axis
        self._source_changed()

    def _source_changed(self) -> None:
        layer = self.layer
        self.scale_label.setText(
            "-" if layer is None else " × ".join(f"{s:g}" for s in layer.scale)
        )
        self.changed.emit()
