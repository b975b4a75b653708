"""The NS-N2N dock widget: pick a stack, inspect W_i live, train with a live loss plot and preview.

Threads: the LPF, the training run and model application each run in a napari ``thread_worker``
that drives one engine generator itself (see ``w_worker``). Only the slots below, called in the
main thread through ``worker.yielded`` / ``returned``, touch layers and widgets. Closing the
widget or the viewer stops a run within about a second (``cleanup``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import napari
import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QEvent, QObject, Qt, QTimer
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible, QLabeledDoubleSlider

from ..config import TrainConfig
from ..control import RunControl
from ..device import available_devices
from ..events import EpochEnd, Finished, Preview, StageProgress, TrainingStarted, TrainStep
from ..masks import LowpassSettings
from ..model_io import ModelBundle, load_model, save_model
from . import w_settings
from .w_loss_plot import LossPlot
from .w_mask import MaskController, empty_mask, mask_colormap
from .w_worker import PreviewIndex, apply_worker, lowpass_worker, train_worker

MASK_LAYER = "W mask"
PREVIEW_LAYER = "denoised (preview)"
THRESHOLD_MAX = 0.2
_DEFAULTS = TrainConfig()


def _fmt_time(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def layer_geometry(layer) -> dict[str, Any]:
    """Keyword arguments that put a new layer exactly over ``layer`` (scale, translate, affine,
    metadata)."""
    return {
        "scale": tuple(layer.scale),
        "translate": tuple(layer.translate),
        "affine": layer.affine.affine_matrix.copy(),
        "metadata": dict(layer.metadata),
    }


def result_layer_kwargs(layer, name: str) -> dict[str, Any]:
    """``add_image`` kwargs for a stack computed from ``layer``: its scale, translate, affine and
    metadata (through ``layers.derived_layer_kwargs`` when available, so saving the result writes
    the source's spacing and header)."""
    try:
        from .layers import derived_layer_kwargs

        return derived_layer_kwargs(layer, name)
    except Exception:
        return {"name": name, **layer_geometry(layer)}


class DenoiseWidget(QWidget):
    """Dock widget of the NS-N2N plugin (``napari_nsn2n._napari.widget:DenoiseWidget``)."""

    def __init__(self, napari_viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self._cache: dict[tuple, Any] = {}  # (layer id, data id, shape, axis, settings) -> diffs
        self._mask: MaskController | None = None
        self._mask_key: tuple | None = None
        self._lpf_worker = None
        self._lpf_control: RunControl | None = None
        self._lpf_key: tuple | None = None
        self._train_worker = None
        self._apply_worker = None
        self._apply_source = None
        self._control: RunControl | None = None
        self._abort: threading.Event | None = None
        self._preview_index = PreviewIndex(0)
        self._run_layer = None  # the image layer being trained on
        self._run_axis = 0
        self._preview_layer = None
        self.bundle: ModelBundle | None = None
        self.last_finished: Finished | None = None
        self.last_step: TrainStep | None = None
        self.n_previews = 0
        self._device_name = ""
        self._closed = False
        self._layers: list = []
        self._axis_choice: dict[int, int | None] = {}  # per layer: the chosen slice axis
        self._named: list = []

        self._build_ui()
        self._restore_settings()
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(500)
        self._save_timer.timeout.connect(self.save_settings)
        for signal in self._setting_signals():
            signal.connect(self._save_timer.start)

        layers = self.viewer.layers
        layers.events.inserted.connect(self._on_layers_changed)
        layers.events.removed.connect(self._on_layers_changed)
        layers.events.moved.connect(self._on_layers_changed)
        self.viewer.dims.events.point.connect(self._on_dims_changed)
        self.viewer.dims.events.order.connect(self._on_dims_changed)
        self.viewer.dims.events.ndisplay.connect(self._on_dims_changed)
        self._qt_window = None  # the viewer's main window, watched once we are docked
        self._refresh_layer_choices()
        self._update_buttons()

    # ================================================================================== UI
    def _build_ui(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)

        source = QGroupBox("Input stack")
        form = QFormLayout(source)
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("The noisy image stack to denoise")
        self.layer_combo.currentIndexChanged.connect(self._on_source_changed)
        form.addRow("Image layer", self.layer_combo)
        self.axis_combo = QComboBox()
        self.axis_combo.setToolTip(
            "Axis along which neighbouring slices are paired (z for a 3D stack; 4D data must "
            "choose z or t, the other leading axis holds independent volumes)"
        )
        self.axis_combo.currentIndexChanged.connect(self._on_source_changed)
        form.addRow("Slice axis", self.axis_combo)
        self.scale_label = QLabel("-")
        self.scale_label.setToolTip("Voxel scale of the layer, carried over to every output layer")
        form.addRow("Voxel scale", self.scale_label)
        root.addWidget(source)

        masks = QGroupBox("Weight masks W_i (Eq. 3)")
        mlay = QVBoxLayout(masks)
        row = QHBoxLayout()
        self.h_factor = QDoubleSpinBox()
        self.h_factor.setRange(0.1, 5.0)
        self.h_factor.setSingleStep(0.1)
        self.h_factor.setValue(1.0)
        self.h_factor.setToolTip("Non-local means strength h in units of the estimated noise sigma")
        row.addWidget(QLabel("NLM h"))
        row.addWidget(self.h_factor)
        self.lpf_button = QPushButton("Compute LPF")
        self.lpf_button.setToolTip(
            "Low-pass filter every slice (non-local means + 3x3 median) and cache "
            "|LPF_i - LPF_i+1|; then any threshold costs one comparison"
        )
        self.lpf_button.clicked.connect(self.start_lowpass)
        row.addWidget(self.lpf_button)
        self.lpf_cancel = QPushButton("Cancel")
        self.lpf_cancel.clicked.connect(self.cancel_lowpass)
        row.addWidget(self.lpf_cancel)
        mlay.addLayout(row)
        self.lpf_progress = QProgressBar()
        self.lpf_progress.setFormat("LPF %v/%m")
        self.lpf_progress.setValue(0)
        mlay.addWidget(self.lpf_progress)
        row = QHBoxLayout()
        row.addWidget(QLabel("th"))
        self.threshold_slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(0.0, THRESHOLD_MAX)
        self.threshold_slider.setSingleStep(0.001)
        self.threshold_slider.setDecimals(4)
        self.threshold_slider.setValue(0.01)
        self.threshold_slider.setToolTip(
            "th on the min-max normalised [0, 1] scale: W = 1 where |LPF_i - LPF_i+1| <= th. "
            "Magenta in the 'W mask' layer = unmatched (W = 0): it should cover the structural "
            "differences between slice i and i+1, and not the leftover noise"
        )
        self.threshold_slider.valueChanged.connect(self._on_threshold_changed)
        row.addWidget(self.threshold_slider, 1)
        self.suggest_button = QPushButton("Suggest")
        self.suggest_button.setToolTip("th = 3 x the robust scale of the residual noise")
        self.suggest_button.clicked.connect(self.suggest_threshold)
        row.addWidget(self.suggest_button)
        mlay.addLayout(row)
        self.fraction_label = QLabel("Compute the LPF to see W_i")
        self.fraction_label.setWordWrap(True)
        mlay.addWidget(self.fraction_label)
        root.addWidget(masks)

        self.settings_box = QCollapsible("Training settings (paper defaults)")
        inner = QWidget()
        tform = QFormLayout(inner)
        tform.setContentsMargins(4, 0, 4, 0)
        self.epochs = self._spin(1, 10000, _DEFAULTS.epochs, "Passes over all neighbouring pairs")
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(1e-5, 1.0)
        self.lr.setSingleStep(1e-4)
        self.lr.setValue(_DEFAULTS.learning_rate)
        self.lr.setToolTip("Adam learning rate, halved every 20 epochs")
        self.batch = self._spin(1, 256, _DEFAULTS.batch_size, "Pairs per optimiser step")
        self.patch = self._spin(
            0, 4096, _DEFAULTS.patch_size or 0, "Random crop size (0 = whole slice)"
        )
        self.patch.setSingleStep(16)
        self.lambda_rc = self._dspin(0.0, 10.0, _DEFAULTS.lambda_rc, "Weight of L_RC (Eq. 5)")
        self.lambda_ic = self._dspin(0.0, 10.0, _DEFAULTS.lambda_ic, "Weight of L_IC (Eq. 6)")
        self.seed = self._spin(0, 2**31 - 1, _DEFAULTS.seed, "Random seed")
        self.base_channels = self._spin(4, 256, _DEFAULTS.base_channels, "U-Net width")
        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", *available_devices()])
        self.device_combo.setToolTip("auto = CUDA, then MPS, then CPU")
        self.preview_every = self._spin(
            0, 100000, 20, "Preview the shown slice every N steps (0 = off)"
        )
        tform.addRow("Epochs", self.epochs)
        tform.addRow("Learning rate", self.lr)
        tform.addRow("Batch size", self.batch)
        tform.addRow("Patch size", self.patch)
        tform.addRow("λ RC", self.lambda_rc)
        tform.addRow("λ IC", self.lambda_ic)
        tform.addRow("Seed", self.seed)
        tform.addRow("U-Net channels", self.base_channels)
        tform.addRow("Device", self.device_combo)
        tform.addRow("Preview every", self.preview_every)
        self.settings_box.addWidget(inner)
        root.addWidget(self.settings_box)

        run = QGroupBox("Training")
        rlay = QVBoxLayout(run)
        row = QHBoxLayout()
        self.train_button = QPushButton("Train")
        self.train_button.clicked.connect(self.start_training)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self._on_pause_toggled)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("End training now and denoise with the model trained so far")
        self.stop_button.clicked.connect(self.stop_training)
        for button in (self.train_button, self.pause_button, self.stop_button):
            row.addWidget(button)
        rlay.addLayout(row)
        self.run_progress = QProgressBar()
        self.run_progress.setValue(0)
        rlay.addWidget(self.run_progress)
        self.status_label = QLabel("Idle")
        self.status_label.setWordWrap(True)
        rlay.addWidget(self.status_label)
        self.loss_plot = LossPlot()
        rlay.addWidget(self.loss_plot)
        root.addWidget(run)

        model = QGroupBox("Model")
        mlay = QVBoxLayout(model)
        row = QHBoxLayout()
        self.save_button = QPushButton("Save model…")
        self.save_button.clicked.connect(self._save_dialog)
        self.load_button = QPushButton("Load model…")
        self.load_button.clicked.connect(self._load_dialog)
        self.apply_button = QPushButton("Apply to layer")
        self.apply_button.setToolTip("Denoise the selected image layer with the current model")
        self.apply_button.clicked.connect(self.apply_model)
        for button in (self.save_button, self.load_button, self.apply_button):
            row.addWidget(button)
        mlay.addLayout(row)
        self.model_label = QLabel("No model yet")
        self.model_label.setWordWrap(True)
        mlay.addWidget(self.model_label)
        root.addWidget(model)
        root.addStretch(1)

    @staticmethod
    def _spin(lo: int, hi: int, value: int, tip: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(lo, hi)
        spin.setValue(value)
        spin.setToolTip(tip)
        return spin

    @staticmethod
    def _dspin(lo: float, hi: float, value: float, tip: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(lo, hi)
        spin.setDecimals(3)
        spin.setSingleStep(0.1)
        spin.setValue(value)
        spin.setToolTip(tip)
        return spin

    # ============================================================================ settings
    def _setting_signals(self):
        return [
            self.threshold_slider.valueChanged,
            self.h_factor.valueChanged,
            self.epochs.valueChanged,
            self.lr.valueChanged,
            self.batch.valueChanged,
            self.patch.valueChanged,
            self.lambda_rc.valueChanged,
            self.lambda_ic.valueChanged,
            self.seed.valueChanged,
            self.base_channels.valueChanged,
            self.device_combo.currentIndexChanged,
            self.preview_every.valueChanged,
        ]

    def settings(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold_slider.value(),
            "h_factor": self.h_factor.value(),
            "epochs": self.epochs.value(),
            "learning_rate": self.lr.value(),
            "batch_size": self.batch.value(),
            "patch_size": self.patch.value(),
            "lambda_rc": self.lambda_rc.value(),
            "lambda_ic": self.lambda_ic.value(),
            "seed": self.seed.value(),
            "base_channels": self.base_channels.value(),
            "device": self.device_combo.currentText(),
            "preview_every": self.preview_every.value(),
            "settings_expanded": self.settings_box.isExpanded(),
        }

    def save_settings(self) -> None:
        with contextlib.suppress(Exception):
            w_settings.save_settings(self.settings())

    def _restore_settings(self) -> None:
        values = w_settings.load_settings()
        setters = {
            "threshold": self.threshold_slider.setValue,
            "h_factor": self.h_factor.setValue,
            "epochs": self.epochs.setValue,
            "learning_rate": self.lr.setValue,
            "batch_size": self.batch.setValue,
            "patch_size": self.patch.setValue,
            "lambda_rc": self.lambda_rc.setValue,
            "lambda_ic": self.lambda_ic.setValue,
            "seed": self.seed.setValue,
            "base_channels": self.base_channels.setValue,
            "preview_every": self.preview_every.setValue,
        }
        for key, setter in setters.items():
            if key in values:
                with contextlib.suppress(TypeError, ValueError):
                    setter(type(self.settings()[key])(values[key]))
        device = values.get("device")
        if device and self.device_combo.findText(device) >= 0:
            self.device_combo.setCurrentText(device)
        if values.get("settings_expanded"):
            self.settings_box.expand(animate=False)

    def train_config(self) -> TrainConfig:
        """The TrainConfig of the current settings (raises NSN2NError when invalid)."""
        return TrainConfig(
            epochs=self.epochs.value(),
            learning_rate=self.lr.value(),
            batch_size=self.batch.value(),
            patch_size=self.patch.value() or None,
            lambda_rc=self.lambda_rc.value(),
            lambda_ic=self.lambda_ic.value(),
            seed=self.seed.value(),
            base_channels=self.base_channels.value(),
            device=self.device_combo.currentText(),
        )

    def lowpass_settings(self) -> LowpassSettings:
        return LowpassSettings(h_factor=round(self.h_factor.value(), 3))

    # ======================================================================= layer picking
    @property
    def layer(self):
        """The picked image layer (or None)."""
        index = self.layer_combo.currentIndex()
        return self._layers[index] if 0 <= index < len(self._layers) else None

    def select_layer(self, layer) -> None:
        self.layer_combo.setCurrentIndex(self._layers.index(layer))

    def _on_layers_changed(self, event=None) -> None:
        self._refresh_layer_choices()

    def _refresh_layer_choices(self) -> None:
        current = self.layer
        images = [
            layer
            for layer in self.viewer.layers
            if isinstance(layer, napari.layers.Image) and layer is not self._preview_layer
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
            self._on_source_changed()

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

    @property
    def axis(self) -> int | None:
        return self.axis_combo.currentData()

    def _source_key(self) -> tuple | None:
        layer, axis = self.layer, self.axis
        if layer is None or axis is None:
            return None
        data = layer.data
        return (id(layer), id(data), tuple(data.shape), axis, self.lowpass_settings())

    def _on_source_changed(self, *args) -> None:
        if self.sender() is self.axis_combo:
            if self.layer is not None:
                self._axis_choice[id(self.layer)] = self.axis
        else:
            self._refresh_axis_choices()
        layer = self.layer
        if layer is None:
            self.scale_label.setText("-")
        else:
            self.scale_label.setText(" × ".join(f"{s:g}" for s in layer.scale))
        self._show_cached_mask()
        self._update_buttons()

    # ============================================================================ the LPF
    def start_lowpass(self) -> None:
        key = self._source_key()
        if key is None:
            show_error("Choose an image layer (and, for 4D data, the slice axis) first")
            return
        if key in self._cache:
            self._show_cached_mask()
            return
        self.cancel_lowpass()
        layer = self.layer
        self._lpf_key = key
        self._lpf_control = RunControl()
        worker = lowpass_worker(layer.data, self.axis, self.lowpass_settings(), self._lpf_control)
        worker.yielded.connect(self._on_lowpass_event)
        worker.errored.connect(self._on_worker_error)
        worker.finished.connect(self._on_lowpass_finished)
        self._lpf_worker = worker
        self.lpf_progress.setValue(0)
        self.fraction_label.setText("Low-pass filtering…")
        worker.start()
        self._update_buttons()

    def cancel_lowpass(self) -> None:
        if self._lpf_worker is not None:
            self._lpf_control.stop()

    def _on_lowpass_event(self, item) -> None:
        if self._closed:
            return
        if isinstance(item, StageProgress):
            self.lpf_progress.setMaximum(item.total)
            self.lpf_progress.setValue(item.done)
        else:  # PairDifferences: plain numpy, kept in the main thread's cache
            self._cache[self._lpf_key] = item
            self._show_cached_mask()

    def _on_lowpass_finished(self) -> None:
        self._lpf_worker = None
        if not self._closed and self.fraction_label.text() == "Low-pass filtering…":
            self.fraction_label.setText("LPF cancelled")
        self._update_buttons()

    @property
    def differences(self):
        """The cached PairDifferences of the current layer / axis / LPF settings, or None."""
        key = self._source_key()
        return None if key is None else self._cache.get(key)

    # ========================================================================== the masks
    def _mask_layer(self, shape):
        layer = self.layer
        existing = next(
            (
                lay
                for lay in self.viewer.layers
                if lay.name == MASK_LAYER and lay.ndim == len(shape)
            ),
            None,
        )
        geometry = layer_geometry(layer)
        geometry.pop("metadata")
        if existing is not None and existing.data.shape == tuple(shape):
            existing.scale, existing.translate = geometry["scale"], geometry["translate"]
            existing.affine = geometry["affine"]
            return existing
        if existing is not None:
            self.viewer.layers.remove(existing)
        labels = self.viewer.add_labels(
            empty_mask(tuple(shape)),
            name=MASK_LAYER,
            opacity=0.6,
            colormap=mask_colormap(),
            **geometry,
        )
        labels.editable = False
        self.viewer.layers.selection.active = layer
        return labels

    def _show_cached_mask(self) -> None:
        key = self._source_key()
        diffs = None if key is None else self._cache.get(key)
        if diffs is None:
            if self._mask is not None:
                self._mask.stop()
                self._mask = None
                self._mask_key = None
            self.fraction_label.setText(
                "Compute the LPF to see W_i" if key is not None else "Choose a stack"
            )
            self._update_buttons()
            return
        if (
            self._mask is not None
            and self._mask_key == key
            and self._mask.labels in self.viewer.layers
        ):
            return
        if self._mask is not None:
            self._mask.stop()
        labels = self._mask_layer(diffs.layout.shape)
        self._mask = MaskController(diffs, labels, self._shown_pairs, self)
        self._mask.fraction_changed.connect(self._on_fraction)
        self._mask_key = key
        self._mask.set_threshold(self.threshold_slider.value())
        self._mask.fill_all()
        self._update_buttons()

    def _data_position(self) -> np.ndarray | None:
        layer = self._run_layer if self._train_worker is not None else self.layer
        if layer is None:
            return None
        return np.asarray(layer.world_to_data(self.viewer.dims.point))

    def _shown_pairs(self) -> list[int] | None:
        """Pair indices on screen, or None when the slice axis is displayed."""
        if self._mask is None or self.layer is None:
            return []
        layout = self._mask.differences.layout
        ndim = len(layout.shape)
        displayed = [d - (self.viewer.dims.ndim - ndim) for d in self.viewer.dims.displayed]
        if layout.slice_axis in displayed or (
            layout.volume_axis is not None and layout.volume_axis in displayed
        ):
            return None
        position = np.asarray(self.layer.world_to_data(self.viewer.dims.point))
        index = int(np.clip(np.round(position[layout.slice_axis]), 0, layout.n_slices - 1))
        volume = 0
        if layout.volume_axis is not None:
            volume = int(np.clip(np.round(position[layout.volume_axis]), 0, layout.n_volumes - 1))
        k = self._mask.pair_at(index, volume)
        return [] if k is None else [k]

    def _on_threshold_changed(self, value: float) -> None:
        if self._mask is not None:
            self._mask.set_threshold(value)

    def _on_fraction(self, fraction: float, exact: bool) -> None:
        approx = "" if exact else "≈ "
        self.fraction_label.setText(
            f"Matched (W = 1): {approx}{100 * fraction:.1f} % of pixels; "
            f"magenta = unmatched (W = 0) at th = {self.threshold_slider.value():.4f}"
        )

    def suggest_threshold(self) -> None:
        diffs = self.differences
        if diffs is None:
            show_error("Compute the LPF first")
            return
        self.threshold_slider.setValue(min(diffs.suggest_threshold(), THRESHOLD_MAX))

    def _on_dims_changed(self, event=None) -> None:
        if self._closed:
            return
        if self._mask is not None:
            self._mask.on_view_changed()
        training = self._train_worker is not None
        layer = self._run_layer if training else self.layer
        axis = self._run_axis if training else self.axis
        if layer is None or axis is None:
            return
        position = np.asarray(layer.world_to_data(self.viewer.dims.point))
        if axis < len(position):
            self._preview_index.index = int(
                np.clip(np.round(position[axis]), 0, layer.data.shape[axis] - 1)
            )

    # =========================================================================== training
    @property
    def is_training(self) -> bool:
        return self._train_worker is not None

    def start_training(self) -> None:
        if self.is_training:
            return
        layer, axis = self.layer, self.axis
        if layer is None or axis is None:
            show_error("Choose an image layer (and, for 4D data, the slice axis) first")
            return
        try:
            config = self.train_config()
        except Exception as exc:
            show_error(str(exc))
            return
        self.save_settings()
        self._run_layer, self._run_axis = layer, axis
        self._on_dims_changed()
        self._control = RunControl()
        self._abort = threading.Event()
        self.loss_plot.clear()
        self.last_step, self.last_finished, self.n_previews = None, None, 0
        self._make_preview_layer(layer)
        worker = train_worker(
            layer.data,
            float(self.threshold_slider.value()),
            config,
            axis,
            self.differences,
            self.lowpass_settings(),
            self._control,
            self._preview_index,
            self.preview_every.value(),
            self._abort,
        )
        worker.yielded.connect(self._on_train_event)
        worker.errored.connect(self._on_worker_error)
        worker.finished.connect(self._on_training_finished)
        self._train_worker = worker
        self._started = time.perf_counter()
        self.status_label.setText("Starting…")
        worker.start()
        self._update_buttons()

    def _make_preview_layer(self, layer) -> None:
        low = float(layer.contrast_limits[0])
        data = np.full(layer.data.shape, low, dtype=np.float32)
        if self._preview_layer is not None and self._preview_layer in self.viewer.layers:
            self.viewer.layers.remove(self._preview_layer)
        geometry = layer_geometry(layer)
        geometry.pop("metadata")
        self._preview_layer = self.viewer.add_image(
            data,
            name=PREVIEW_LAYER,
            colormap=layer.colormap.name,
            contrast_limits=tuple(layer.contrast_limits),
            **geometry,
        )
        self._refresh_layer_choices()
        self.viewer.layers.selection.active = layer

    def pause_training(self) -> None:
        self.pause_button.setChecked(True)

    def resume_training(self) -> None:
        self.pause_button.setChecked(False)

    def _on_pause_toggled(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        if self._control is None:
            return
        if paused:
            self._control.pause()
            self.status_label.setText(self.status_label.text() + " — paused")
        else:
            self._control.resume()

    def stop_training(self) -> None:
        if self._control is not None and self.is_training:
            self._control.stop()
            self.status_label.setText("Stopping: denoising with the model trained so far…")

    def _on_train_event(self, event) -> None:
        if self._closed:
            return
        if isinstance(event, TrainStep):
            self.last_step = event
            self.loss_plot.append(
                event.step,
                {"loss": event.loss, "recon": event.recon, "rc": event.rc, "ic": event.ic},
            )
            self.run_progress.setMaximum(event.total_steps)
            self.run_progress.setValue(event.step)
            self.run_progress.setFormat("training %v/%m")
            self.status_label.setText(
                f"step {event.step}/{event.total_steps} · epoch {event.epoch}/"
                f"{self.epochs.value()} · loss {event.loss:.3g} · ETA {_fmt_time(event.eta_s)} · "
                f"{self._device_name}"
            )
        elif isinstance(event, Preview):
            self._show_preview(event)
        elif isinstance(event, StageProgress):
            self.run_progress.setMaximum(event.total)
            self.run_progress.setValue(event.done)
            self.run_progress.setFormat(f"{event.stage} %v/%m")
        elif isinstance(event, TrainingStarted):
            self._device_name = event.device
            self.status_label.setText(
                f"Training {event.epochs} epochs × {event.steps_per_epoch} steps on "
                f"{event.n_pairs} pairs · {event.device}"
            )
        elif isinstance(event, EpochEnd):
            pass  # the status line already shows the epoch
        elif isinstance(event, Finished):
            self._on_result(event)

    def _show_preview(self, event: Preview) -> None:
        layer = self._preview_layer
        if layer is None or layer not in self.viewer.layers:
            return
        key: list = [slice(None)] * layer.data.ndim
        key[self._run_axis] = event.index
        volume_axis = (
            next((a for a in range(layer.data.ndim - 2) if a != self._run_axis), None)
            if layer.data.ndim == 4
            else None
        )
        if volume_axis is not None:
            key[volume_axis] = 0
        layer.data[tuple(key)] = event.image
        layer.refresh()
        self.n_previews += 1

    def _on_result(self, event: Finished) -> None:
        self.last_finished = event
        self.bundle = event.model
        source = self._run_layer
        name = f"{source.name} denoised"
        result = self.viewer.add_image(
            event.denoised, colormap=source.colormap.name, **result_layer_kwargs(source, name)
        )
        with contextlib.suppress(Exception):
            result.contrast_limits_range = tuple(source.contrast_limits_range)
            result.contrast_limits = tuple(source.contrast_limits)
        if self._preview_layer is not None and self._preview_layer in self.viewer.layers:
            self.viewer.layers.remove(self._preview_layer)
        self._preview_layer = None
        if self._mask is not None:
            self._mask.labels.visible = False
        how = "stopped early" if event.stopped_early else "done"
        self.status_label.setText(
            f"{how} in {_fmt_time(event.elapsed_s)} · "
            f"{self.last_step.step if self.last_step else 0} steps · {self._device_name} → '{name}'"
        )
        self._describe_model("trained")

    def _on_training_finished(self) -> None:
        self._train_worker = None
        self._control = None
        self._run_layer = None
        if self._closed:
            return
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(False)
        self.pause_button.setText("Pause")
        self.pause_button.blockSignals(False)
        self._refresh_layer_choices()
        self._update_buttons()

    # ============================================================================== model
    def _describe_model(self, how: str) -> None:
        bundle = self.bundle
        if bundle is None:
            self.model_label.setText("No model yet")
            return
        th = "-" if bundle.threshold is None else f"{bundle.threshold:.4f}"
        self.model_label.setText(
            f"Model {how}: {bundle.config.epochs} epochs, U-Net {bundle.config.base_channels} ch, "
            f"th {th}, trained on {bundle.meta.get('shape', '?')}"
        )
        self._update_buttons()

    def save_model(self, path: str | Path) -> Path | None:
        if self.bundle is None:
            show_error("No model to save: train or load one first")
            return None
        try:
            written = save_model(self.bundle, path, overwrite=True)
        except Exception as exc:
            show_error(f"Saving the model failed: {exc}")
            return None
        show_info(f"Model saved to {written}")
        return written

    def load_model(self, path: str | Path) -> ModelBundle | None:
        try:
            self.bundle = load_model(path)
        except Exception as exc:
            show_error(f"Loading the model failed: {exc}")
            return None
        self._describe_model(f"loaded from {Path(path).name}")
        return self.bundle

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save NS-N2N model", "nsn2n-model.pt", "NS-N2N model (*.pt)"
        )
        if path:
            self.save_model(path)

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load NS-N2N model", "", "NS-N2N model (*.pt)")
        if path:
            self.load_model(path)

    def apply_model(self) -> None:
        layer, axis = self.layer, self.axis
        if self.bundle is None:
            show_error("No model: train or load one first")
            return
        if layer is None or axis is None:
            show_error("Choose an image layer (and, for 4D data, the slice axis) first")
            return
        worker = apply_worker(self.bundle, layer.data, axis, self.device_combo.currentText())
        self._apply_source = layer
        worker.returned.connect(self._on_applied)
        worker.errored.connect(self._on_worker_error)
        worker.finished.connect(self._on_apply_finished)
        self._apply_worker = worker
        self.status_label.setText(f"Applying the model to '{layer.name}'…")
        worker.start()
        self._update_buttons()

    def _on_applied(self, denoised: np.ndarray) -> None:
        source, self._apply_source = self._apply_source, None
        if self._closed or source is None:
            return
        result = self.viewer.add_image(
            denoised,
            colormap=source.colormap.name,
            **result_layer_kwargs(source, f"{source.name} denoised (model)"),
        )
        with contextlib.suppress(Exception):
            result.contrast_limits_range = tuple(source.contrast_limits_range)
            result.contrast_limits = tuple(source.contrast_limits)
        self.status_label.setText(f"Model applied → '{result.name}'")

    def _on_apply_finished(self) -> None:
        self._apply_worker = None
        self._update_buttons()

    # ============================================================================= common
    def _on_worker_error(self, exc: Exception) -> None:
        show_error(f"NS-N2N: {exc}")
        if not self._closed:
            self.status_label.setText(f"Error: {exc}")

    def _update_buttons(self) -> None:
        if self._closed:
            return
        ready = self.layer is not None and self.axis is not None
        lpf_running = self._lpf_worker is not None
        training = self.is_training
        self.lpf_button.setEnabled(ready and not lpf_running and not training)
        self.lpf_cancel.setEnabled(lpf_running)
        has_mask = self._mask is not None
        self.threshold_slider.setEnabled(not training)
        self.suggest_button.setEnabled(has_mask and not training)
        self.train_button.setEnabled(ready and not training and not lpf_running)
        self.pause_button.setEnabled(training)
        self.stop_button.setEnabled(training)
        self.save_button.setEnabled(self.bundle is not None)
        self.apply_button.setEnabled(
            self.bundle is not None and ready and self._apply_worker is None
        )

    @property
    def workers(self) -> list:
        return [w for w in (self._lpf_worker, self._train_worker, self._apply_worker) if w]

    def cleanup(self, timeout_s: float = 1.0) -> None:
        """Stop every worker (training ends at the next step; its generator closes in the worker
        thread, freeing device memory), wait up to ``timeout_s`` and disconnect from the viewer."""
        if self._closed:
            return
        self.save_settings()
        self._closed = True
        if self._mask is not None:
            self._mask.stop()
        if self._abort is not None:
            self._abort.set()  # the run returns at its next step (see w_worker.train_worker)
        if self._control is not None:
            self._control.resume()  # not stop(): that would run the final inference first
        if self._lpf_control is not None:
            self._lpf_control.stop()  # lowpass_events returns after the current slice
        deadline = time.monotonic() + timeout_s
        for worker in self.workers:
            while worker.is_running and time.monotonic() < deadline:
                time.sleep(0.01)
        layers = self.viewer.layers
        for signal, slot in (
            (layers.events.inserted, self._on_layers_changed),
            (layers.events.removed, self._on_layers_changed),
            (layers.events.moved, self._on_layers_changed),
            (self.viewer.dims.events.point, self._on_dims_changed),
            (self.viewer.dims.events.order, self._on_dims_changed),
            (self.viewer.dims.events.ndisplay, self._on_dims_changed),
        ):
            with contextlib.suppress(Exception):
                signal.disconnect(slot)
        for layer in self._named:
            with contextlib.suppress(Exception):
                layer.events.name.disconnect(self._on_layers_changed)
        self._named = []
        if self._qt_window is not None:
            with contextlib.suppress(RuntimeError):
                self._qt_window.removeEventFilter(self)
            self._qt_window = None

    def event(self, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.ParentChange, QEvent.Type.Show):
            self._watch_main_window()
            # the dock is put into the main window after it adopts us: look again later
            QTimer.singleShot(0, self._watch_main_window)
        return super().event(event)

    def _watch_main_window(self) -> None:
        """Closing the viewer's main window (which napari does on ``viewer.close()``) must stop
        our workers: watch that window's Close event once the dock puts us inside it."""
        window = self.window()
        if window is self or window is self._qt_window or self._closed:
            return
        if self._qt_window is not None:
            with contextlib.suppress(RuntimeError):
                self._qt_window.removeEventFilter(self)
        self._qt_window = window
        window.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self._qt_window and event.type() == QEvent.Type.Close:
            self.cleanup()
        return False

    def closeEvent(self, event) -> None:
        self.cleanup()
        super().closeEvent(event)
