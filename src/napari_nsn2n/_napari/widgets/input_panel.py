"""The input panel: which image layer to denoise, its slice axis and its voxel size with units.

Every image layer except the plugin's own preview is listed; one that cannot be denoised (2D,
RGB) stays pickable and the panel says why. A TIFF that another reader opened without its voxel
spacing (napari's own reader ignores ImageJ / OME spacing) gets a button that applies it.
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import Any

import napari
import numpy as np
from napari.layers import Layer
from napari.utils.notifications import show_error
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QWidget,
)

from ...errors import NSN2NError
from ...io import is_supported_path, read_volume
from ..layers import layer_tuple
from ..reader import read_paths
from ..state import WidgetState
from .common import PREVIEW_ROLE, Panel, connect_all, disconnect_all, role_of, wrapped_label

SPACING_SUFFIXES = (".tif", ".tiff")  # files whose spacing napari's own reader drops


def unusable_reason(layer: Any) -> str:
    """Why ``layer`` cannot be denoised ("" when it can)."""
    if getattr(layer, "rgb", False):
        return "An RGB(A) image: NS-N2N needs one channel; split the channels first."
    if layer.ndim < 3:
        return "A 2D image: NS-N2N pairs neighbouring slices, so it needs a 3D (or 4D) stack."
    if layer.ndim > 4:
        return f"A {layer.ndim}D image: pick a 3D or 4D stack."
    return ""


def scale_text(layer: Any) -> str:
    """Voxel size per axis with its unit, e.g. ``2 × 0.5 × 0.5 mm`` or ``1 × 1 × 1 px`` (a scale
    other than 1 in napari's default unit, pixels, says that no unit is set)."""
    units = [str(u) for u in getattr(layer, "units", ()) or ()]
    short = {"millimeter": "mm", "micrometer": "µm", "nanometer": "nm", "pixel": "px"}
    names = [short.get(u, u) for u in units]
    sizes = " × ".join(f"{s:g}" for s in layer.scale)
    if set(names) == {"px"} and not np.allclose(layer.scale, 1.0):
        return f"{sizes} (no unit set)"
    if names and len(set(names)) == 1:
        return f"{sizes} {names[0]}"
    if names:
        return " × ".join(f"{s:g} {n}" for s, n in zip(layer.scale, names, strict=False))
    return sizes


class InputPanel(Panel):
    """Picks an image layer (following adds, removals, moves and renames) and the axis along
    which neighbouring slices are paired; remembers the axis chosen per layer."""

    def __init__(self, viewer: napari.Viewer, state: WidgetState, parent: QWidget | None = None):
        super().__init__("Input stack", viewer, state, parent)
        self._layers: list = []
        self._axis_choice: dict[Any, int | None] = {}  # per layer id: the chosen slice axis
        self._named: list = []  # layers whose name events we follow
        self._file_spacing: tuple[tuple[float, ...], tuple[str, ...] | None] | None = None

        form = QFormLayout(self)
        row = QHBoxLayout()
        self.layer_combo = QComboBox()
        self.layer_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.layer_combo.setMinimumContentsLength(12)
        self.layer_combo.setToolTip("The noisy image stack to denoise")
        self.layer_combo.currentIndexChanged.connect(self._on_layer_picked)
        row.addWidget(self.layer_combo, 1)
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip(
            "Open a stack (TIFF, NIfTI, NumPy, DICOM) with its voxel spacing and units"
        )
        self.open_button.clicked.connect(self._open_dialog)
        row.addWidget(self.open_button)
        form.addRow("Image layer", row)
        self.axis_combo = QComboBox()
        self.axis_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.axis_combo.setMinimumContentsLength(12)
        self.axis_combo.setToolTip(
            "Axis along which neighbouring slices are paired (z for a 3D stack; 4D data must "
            "choose z or t: the other leading axis holds independent volumes)"
        )
        self.axis_combo.currentIndexChanged.connect(self._on_axis_picked)
        form.addRow("Slice axis", self.axis_combo)
        row = QHBoxLayout()
        self.scale_label = wrapped_label("-")
        self.scale_label.setToolTip(
            "Voxel size of the layer (napari's scale and units), carried over to every layer "
            "the plugin adds"
        )
        row.addWidget(self.scale_label, 1)
        self.spacing_button = QPushButton("Use file spacing")
        self.spacing_button.setToolTip(
            "The file stores a voxel spacing that the reader which opened it did not apply"
        )
        self.spacing_button.clicked.connect(self.apply_file_spacing)
        self.spacing_button.hide()
        row.addWidget(self.spacing_button)
        form.addRow("Voxel size", row)
        self.problem_label = wrapped_label()
        self.problem_label.setStyleSheet("color: #f0a040")
        self.problem_label.hide()
        form.addRow(self.problem_label)
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

    # ------------------------------------------------------------------------------- picking
    @property
    def layer(self) -> Any:
        index = self.layer_combo.currentIndex()
        return self._layers[index] if 0 <= index < len(self._layers) else None

    def select_layer(self, layer: Any) -> None:
        """Pick ``layer`` (a layer of the viewer, or its name)."""
        name = layer if isinstance(layer, str) else layer.name
        self.layer_combo.setCurrentIndex(self.layer_combo.findText(name))

    def _on_layers_changed(self, event=None) -> None:
        if not self.closed:
            self.refresh()

    def refresh(self) -> None:
        """Rebuild the layer list, keeping the pick (else the active layer, else the last one)."""
        current = self.layer
        images = [
            layer
            for layer in self.viewer.layers
            if isinstance(layer, napari.layers.Image) and role_of(layer) != PREVIEW_ROLE
        ]
        disconnect_all((layer.events.name, self._on_layers_changed) for layer in self._named)
        self._named = list(images)
        for layer in images:
            layer.events.name.connect(self._on_layers_changed)
        ids = [layer.unique_id for layer in images]
        self._layers = images
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItems([layer.name for layer in images])
        if current is not None and current.unique_id in ids:
            self.layer_combo.setCurrentIndex(ids.index(current.unique_id))
        elif images:
            active = self.viewer.layers.selection.active
            usable = [layer for layer in images if not unusable_reason(layer)] or images
            pick = active if active is not None and active.unique_id in ids else usable[-1]
            self.layer_combo.setCurrentIndex(ids.index(pick.unique_id))
        self.layer_combo.blockSignals(False)
        if (self.layer is None) != (current is None) or (
            self.layer is not None and self.layer.unique_id != current.unique_id
        ):
            self._on_layer_picked()

    def _refresh_axis_choices(self) -> None:
        layer = self.layer
        previous = None if layer is None else self._axis_choice.get(layer.unique_id)
        self.axis_combo.blockSignals(True)
        self.axis_combo.clear()
        if layer is not None and not unusable_reason(layer):
            labels = [str(a) for a in layer.axis_labels]
            if layer.ndim == 4:
                self.axis_combo.addItem("choose the slice axis…", None)
            for axis in range(layer.ndim - 2):
                name = labels[axis] if axis < len(labels) else ""
                if not name or name.lstrip("-").isdigit():  # napari's default labels: numbers
                    name = "z" if layer.ndim == 3 else ""
                self.axis_combo.addItem(f"axis {axis} ({name})" if name else f"axis {axis}", axis)
            found = self.axis_combo.findData(previous) if previous is not None else -1
            self.axis_combo.setCurrentIndex(max(found, 0))
        self.axis_combo.blockSignals(False)

    def _on_layer_picked(self, *args) -> None:
        self._refresh_axis_choices()
        self._publish()

    def _on_axis_picked(self, *args) -> None:
        if self.layer is not None:
            self._axis_choice[self.layer.unique_id] = self.axis_combo.currentData()
        self._publish()

    def _publish(self) -> None:
        """Write the pick into the shared state and describe it."""
        layer = self.layer
        axis = self.axis_combo.currentData()
        problem = "" if layer is None else unusable_reason(layer)
        if layer is not None and not problem and axis is None:
            problem = "Choose the slice axis: 4D data holds independent volumes along the other."
        self.scale_label.setText("-" if layer is None else scale_text(layer))
        self.problem_label.setText(problem)
        self.problem_label.setVisible(bool(problem))
        self._file_spacing = None if layer is None else file_spacing(layer)
        self.spacing_button.setVisible(self._file_spacing is not None)
        if self._file_spacing is not None:
            sizes = " × ".join(f"{s:g}" for s in self._file_spacing[0])
            self.spacing_button.setToolTip(
                f"The file stores a voxel spacing of {sizes} that the reader which opened it "
                "did not apply: apply it to this layer"
            )
        with self.state.events.paused():
            self.state.layer = layer
            self.state.axis = None if problem and layer is not None else axis
            self.state.problem = problem

    def apply_file_spacing(self) -> None:
        """Set the picked layer's scale (and units) to the spacing stored in its file."""
        layer, found = self.layer, self._file_spacing
        if layer is None or found is None:
            return
        spacing, units = found
        layer.scale = spacing
        if units is not None:
            layer.units = units
        self._publish()

    # ------------------------------------------------------------------------------- opening
    def open_stack(self, path: str | Path) -> list:
        """Open ``path`` with this plugin's reader (voxel spacing, units, contrast) and pick it;
        returns the layers added ([] when it fails: the error is shown)."""
        try:
            layer_data = read_paths(str(path))
        except NSN2NError as exc:
            show_error(str(exc))
            return []
        added = [self.viewer.add_layer(Layer.create(*item)) for item in layer_data]
        if added:
            self.select_layer(added[-1])
        return added

    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a stack", "", "Stacks (*.tif *.tiff *.nii *.nii.gz *.npy *.dcm)"
        )
        if path:
            self.open_stack(path)


def file_spacing(layer: Any) -> tuple[tuple[float, ...], tuple[str, ...] | None] | None:
    """(spacing, units) stored in the TIFF file ``layer`` was read from, when the layer carries
    napari's default scale of 1 instead; None otherwise (or when the file cannot be read)."""
    path = getattr(layer.source, "path", None)
    if (
        path is None
        or not np.allclose(layer.scale, 1.0)
        or not str(path).lower().endswith(SPACING_SUFFIXES)
        or not is_supported_path(path)
    ):
        return None
    with contextlib.suppress(OSError):
        found = _stored_spacing(str(path), os.stat(path).st_mtime_ns)
        if found is not None and len(found[0]) == layer.ndim:
            return found
    return None


@functools.lru_cache(maxsize=32)
def _stored_spacing(
    path: str, mtime_ns: int
) -> tuple[tuple[float, ...], tuple[str, ...] | None] | None:
    """The spacing (and units) a file stores, None without one (cached per file version)."""
    try:
        volume = read_volume(path, mmap=True)
    except NSN2NError:
        return None
    if volume.spacing is None or np.allclose(volume.spacing, 1.0):
        return None
    units = layer_tuple(volume)[1].get("units")
    return tuple(float(s) for s in volume.spacing), units
