"""The collapsible training-settings section: the TrainConfig fields (the held-out validation
set and the early-stop rule included), device, preview rate, test-time augmentation, Rician."""

from __future__ import annotations

from dataclasses import replace

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QPushButton,
    QSpinBox,
    QWidget,
)
from superqt import QCollapsible

from ... import tuned
from ...config import LR_SCHEDULES, TrainConfig
from ...device import available_devices
from ..settings import Field

AUTO_RC = -0.1  # the λ RC box's minimum, shown as "auto"
DEVICES = ("auto", "cpu", "cuda", "mps")


def preset() -> TrainConfig:
    """The defaults: the paper's settings where a GPU is available, the fast preset on a CPU."""
    return TrainConfig.preset("auto")


def _spin(lo: int, hi: int, value: int, tip: str, step: int = 1) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(lo, hi)
    spin.setValue(value)
    spin.setSingleStep(step)
    spin.setToolTip(tip)
    return spin


def _dspin(lo: float, hi: float, value: float, tip: str, decimals: int = 3) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(lo, hi)
    spin.setDecimals(decimals)
    spin.setSingleStep(0.1)
    spin.setValue(value)
    spin.setToolTip(tip)
    return spin


class TrainSettingsPanel(QCollapsible):
    """The training settings, collapsed until opened; they start at ``preset()``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        defaults = preset()
        kind = "paper preset" if defaults.base_channels >= 32 else "fast CPU preset"
        super().__init__(f"Training settings ({kind})", parent)
        self.defaults = defaults
        inner = QWidget()
        form = QFormLayout(inner)
        form.setContentsMargins(4, 0, 4, 0)
        self.epochs = _spin(1, 10000, defaults.epochs, "Passes over all neighbouring pairs")
        self.min_steps = _spin(
            0,
            1_000_000,
            defaults.min_steps or 0,
            "Plan at least this many optimiser steps: on a short stack the epochs are raised "
            "(0 = exactly 'Epochs'); the stop patience may end the run sooner",
            step=100,
        )
        self.lr = _dspin(1e-5, 1.0, defaults.learning_rate, "Adam's initial learning rate", 5)
        self.lr.setSingleStep(1e-4)
        self.lr_schedule = QComboBox()
        self.lr_schedule.addItems(list(LR_SCHEDULES))
        self.lr_schedule.setCurrentText(defaults.lr_schedule)
        self.lr_schedule.setToolTip(
            "step: halve the learning rate every fifth of the epochs (the paper's); late: hold "
            "it for the first half, then halve every tenth; plateau: halve it when the held-out "
            "loss stops falling, 3 times, then stop (with a stop patience; without one the run "
            "uses late) (docs/method.md)"
        )
        self.batch = _spin(1, 256, defaults.batch_size, "Pairs per optimiser step")
        self.patch = _spin(
            0, 4096, defaults.patch_size or 0, "Random crop size (0 = whole slices)", step=16
        )
        self.lambda_rc = _dspin(
            AUTO_RC,
            10.0,
            AUTO_RC if defaults.lambda_rc == "auto" else defaults.lambda_rc,
            "Weight of L_RC (Eq. 5), which makes the outputs of a pair agree where W = 1. auto: "
            "the paper's 0.5 where the noise is correlated within slices (CT), else 0, where it "
            "mostly pulls each output towards its neighbour (docs/method.md)",
        )
        self.lambda_rc.setSpecialValueText("auto")  # shown at the minimum
        self.lambda_ic = _dspin(0.0, 10.0, defaults.lambda_ic, "Weight of L_IC (Eq. 6)")
        self.seed = _spin(0, 2**31 - 1, defaults.seed, "Random seed (patches, weights)")
        self.base_channels = _spin(4, 256, defaults.base_channels, "U-Net width")
        self.validation = _dspin(
            0.0,
            49.0,
            100 * defaults.validation_fraction,
            "Percent of every slice (in 8 px blocks) left out of training; its NS-N2N loss, "
            "plotted as 'held-out', follows the error against the clean stack plus a constant, "
            "so it shows when more training stops helping (0 = off)",
            1,
        )
        self.validation.setSuffix(" %")
        self.validation.setSingleStep(1.0)
        self.patience = _spin(
            0,
            10000,
            defaults.stop_patience or 0,
            "Stop when the held-out loss has not improved for this many measurements, keeping "
            "the best weights (0 = train to the end; needs a held-out percent)",
        )
        self.validate_every = _spin(
            1, 100000, defaults.validation_every, "Measure the held-out loss every N steps"
        )
        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", *[d for d in available_devices() if d != "auto"]])
        self.device_combo.setToolTip("auto = CUDA, then MPS, then CPU")
        self.preview_every = _spin(0, 100000, 20, "Preview the shown slice every N steps (0 = off)")
        self.tta = QCheckBox("8-fold (flips / rotations)")
        self.tta.setToolTip(
            "Test-time augmentation for the final result and 'Apply': the mean over the 8 "
            "flips / rotations of each slice, about 8x the inference time"
        )
        self.rician = QCheckBox("remove the background floor")
        self.rician.setToolTip(
            "Magnitude MRI: Rician noise lifts the mean above the signal (an empty background "
            "becomes sigma*sqrt(pi/2)); invert that bias in the result, with sigma estimated "
            "from the stack (final result and 'Apply'; docs/method.md)"
        )
        self.keep_structure = QCheckBox("put back what the slices agree on")
        self.keep_structure.setChecked(True)
        self.keep_structure.setToolTip(
            "After inference, add back what the network removed where the residual, averaged "
            "over 3 slices, stands well out of the noise: small lesions and thin structures "
            "that change between slices (final result and 'Apply'; docs/method.md)"
        )
        self.residual = QCheckBox("add a residual layer")
        self.residual.setToolTip(
            "With the result, add 'NAME residual': noisy - denoised, what was removed (hidden at "
            "first). It should look like noise only; an insert or an edge in it was smoothed away"
        )
        self.reset_button = QPushButton("Reset to preset")
        self.reset_button.setToolTip("Put every training value back to this machine's preset")
        self.reset_button.clicked.connect(self.reset)
        for label, widget in (
            ("Epochs", self.epochs),
            ("Min. steps", self.min_steps),
            ("Learning rate", self.lr),
            ("LR schedule", self.lr_schedule),
            ("Batch size", self.batch),
            ("Patch size", self.patch),
            ("λ RC", self.lambda_rc),
            ("λ IC", self.lambda_ic),
            ("Seed", self.seed),
            ("U-Net channels", self.base_channels),
            ("Held out", self.validation),
            ("Validate every", self.validate_every),
            ("Stop patience", self.patience),
            ("Device", self.device_combo),
            ("Preview every", self.preview_every),
            ("Test-time aug.", self.tta),
            ("Rician bias", self.rician),
            ("Keep structure", self.keep_structure),
            ("Residual", self.residual),
            ("", self.reset_button),
        ):
            form.addRow(label, widget)
        self.addWidget(inner)

    def fields(self) -> list[Field]:
        """The values remembered in napari's preferences (``settings.Field``)."""
        d = self.defaults
        rc_preset = AUTO_RC if d.lambda_rc == "auto" else d.lambda_rc
        return [
            Field(self.epochs, "training", "epochs", d.epochs),
            Field(self.min_steps, "training", "min_steps", d.min_steps or 0),
            Field(self.lr, "training", "learning_rate", d.learning_rate),
            Field(self.lr_schedule, "training", "lr_schedule", d.lr_schedule),
            Field(self.batch, "training", "batch_size", d.batch_size),
            Field(self.patch, "training", "patch_size", d.patch_size or 0),
            Field(self.lambda_rc, "training", "lambda_rc", rc_preset),
            Field(self.lambda_ic, "training", "lambda_ic", d.lambda_ic),
            Field(self.seed, "training", "seed", d.seed),
            Field(self.base_channels, "training", "base_channels", d.base_channels),
            Field(self.validation, "training", "validation_percent", 100 * d.validation_fraction),
            Field(self.patience, "training", "stop_patience", d.stop_patience or 0),
            Field(self.device_combo, "running", "device"),
            Field(self.preview_every, "running", "preview_every"),
            Field(self.tta, "running", "tta"),
            Field(self.rician, "running", "rician"),
            Field(self.keep_structure, "running", "keep_structure"),
            Field(self.residual, "running", "residual"),
        ]

    def reset(self) -> None:
        """Every training value back to the preset."""
        for item in self.fields():
            if item.category == "training":
                item.show(item.sentinel)
        self.validate_every.setValue(self.defaults.validation_every)

    @property
    def device(self) -> str:
        return self.device_combo.currentText()

    def lambda_rc_value(self) -> float | str:
        """The L_RC weight as TrainConfig takes it: a number, or "auto" at the minimum."""
        value = self.lambda_rc.value()
        return "auto" if value <= self.lambda_rc.minimum() else value

    def train_config(self) -> TrainConfig:
        """The TrainConfig of the current settings (raises NSN2NError when invalid)."""
        held_out = self.validation.value() / 100
        patience = (self.patience.value() or None) if held_out > 0 else None
        schedule = self.lr_schedule.currentText()
        if patience is None and schedule == "plateau":  # plateau needs the stop rule
            schedule = tuned.FAST_LR_SCHEDULE
        return replace(
            self.defaults,
            epochs=self.epochs.value(),
            min_steps=self.min_steps.value() or None,
            learning_rate=self.lr.value(),
            lr_schedule=schedule,
            batch_size=self.batch.value(),
            patch_size=self.patch.value() or None,
            lambda_rc=self.lambda_rc_value(),
            lambda_ic=self.lambda_ic.value(),
            seed=self.seed.value(),
            base_channels=self.base_channels.value(),
            validation_fraction=held_out,
            validation_every=self.validate_every.value(),
            stop_patience=patience,
            device=self.device,
        )
