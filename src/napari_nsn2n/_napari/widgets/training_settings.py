"""The collapsible training-settings section: the TrainConfig fields, device, preview rate, TTA."""

from __future__ import annotations

from dataclasses import replace

from qtpy.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QSpinBox, QWidget
from superqt import QCollapsible

from ...config import LR_SCHEDULES, TrainConfig
from ...device import available_devices

_DEFAULTS = TrainConfig.preset("auto")  # the paper's settings on a GPU, the fast preset on a CPU
_TITLE = (
    "Training settings ("
    + ("fast CPU preset" if _DEFAULTS.base_channels == 16 else "paper defaults")
    + ")"
)


_AUTO_RC = -0.1  # the λ RC box's minimum, shown as "auto"


def _spin(lo: int, hi: int, value: int, tip: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(lo, hi)
    spin.setValue(value)
    spin.setToolTip(tip)
    return spin


def _dspin(lo: float, hi: float, value: float, tip: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(lo, hi)
    spin.setDecimals(3)
    spin.setSingleStep(0.1)
    spin.setValue(value)
    spin.setToolTip(tip)
    return spin


class TrainSettingsPanel(QCollapsible):
    """The training settings (``TrainConfig.preset("auto")``), collapsed until opened."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(_TITLE, parent)
        inner = QWidget()
        form = QFormLayout(inner)
        form.setContentsMargins(4, 0, 4, 0)
        self.epochs = _spin(1, 10000, _DEFAULTS.epochs, "Passes over all neighbouring pairs")
        self.min_steps = _spin(
            0,
            1_000_000,
            _DEFAULTS.min_steps or 0,
            "Train at least this many optimiser steps: on a short stack the epochs are raised "
            "(0 = exactly 'Epochs')",
        )
        self.min_steps.setSingleStep(100)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(1e-5, 1.0)
        self.lr.setSingleStep(1e-4)
        self.lr.setValue(_DEFAULTS.learning_rate)
        self.lr.setToolTip("Adam's initial learning rate")
        self.lr_schedule = QComboBox()
        self.lr_schedule.addItems(list(LR_SCHEDULES))
        self.lr_schedule.setCurrentText(_DEFAULTS.lr_schedule)
        self.lr_schedule.setToolTip(
            "step: halve the learning rate every fifth of the epochs (the paper's); late: hold it "
            "for the first half, then halve every tenth (+0.02 to +0.86 dB at the same steps on "
            "the benchmark phantoms, docs/benchmarks.md)"
        )
        self.batch = _spin(1, 256, _DEFAULTS.batch_size, "Pairs per optimiser step")
        self.patch = _spin(0, 4096, _DEFAULTS.patch_size or 0, "Random crop size (0 = whole slice)")
        self.patch.setSingleStep(16)
        self.lambda_rc = _dspin(
            _AUTO_RC,
            10.0,
            _AUTO_RC if _DEFAULTS.lambda_rc == "auto" else _DEFAULTS.lambda_rc,
            "Weight of L_RC (Eq. 5). auto: the paper's 0.5 where the noise is correlated within "
            "slices (CT), else 0 (fluorescence +0.4 to +0.6 dB, MRI foreground +0.2 to +0.5 dB "
            "against 0.5, docs/benchmarks.md)",
        )
        self.lambda_rc.setSpecialValueText("auto")  # shown at the minimum
        self.lambda_ic = _dspin(0.0, 10.0, _DEFAULTS.lambda_ic, "Weight of L_IC (Eq. 6)")
        self.seed = _spin(0, 2**31 - 1, _DEFAULTS.seed, "Random seed")
        self.base_channels = _spin(4, 256, _DEFAULTS.base_channels, "U-Net width")
        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", *available_devices()])
        self.device_combo.setToolTip("auto = CUDA, then MPS, then CPU")
        self.preview_every = _spin(0, 100000, 20, "Preview the shown slice every N steps (0 = off)")
        self.tta = QCheckBox("8-fold (flips / rotations)")
        self.tta.setToolTip(
            "Test-time augmentation for the final result and 'Apply to layer': the mean over the "
            "8 flips / rotations, about 8x the inference time; +0.03 to +0.4 dB in "
            "docs/benchmarks.md"
        )
        self.rician = QCheckBox("remove the background floor")
        self.rician.setToolTip(
            "Magnitude MRI: Rician noise lifts the mean above the signal (an empty background "
            "becomes sigma*sqrt(pi/2)); invert that bias in the result, with sigma estimated "
            "from the stack (final result and 'Apply to layer'; docs/method.md)"
        )
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
            ("Device", self.device_combo),
            ("Preview every", self.preview_every),
            ("Test-time aug.", self.tta),
            ("Rician bias", self.rician),
        ):
            form.addRow(label, widget)
        self.addWidget(inner)

    def fields(self) -> dict[str, QWidget]:
        """The settings this section contributes (saved between sessions)."""
        return {
            "epochs": self.epochs,
            "min_steps": self.min_steps,
            "learning_rate": self.lr,
            "lr_schedule": self.lr_schedule,
            "batch_size": self.batch,
            "patch_size": self.patch,
            "lambda_rc": self.lambda_rc,
            "lambda_ic": self.lambda_ic,
            "seed": self.seed,
            "base_channels": self.base_channels,
            "device": self.device_combo,
            "preview_every": self.preview_every,
            "tta": self.tta,
            "rician": self.rician,
        }

    @property
    def device(self) -> str:
        return self.device_combo.currentText()

    def lambda_rc_value(self) -> float | str:
        """The L_RC weight as TrainConfig takes it: a number, or "auto" at the minimum."""
        value = self.lambda_rc.value()
        return "auto" if value <= self.lambda_rc.minimum() else value

    def train_config(self) -> TrainConfig:
        """The TrainConfig of the current settings (raises NSN2NError when invalid)."""
        return replace(
            _DEFAULTS,
            epochs=self.epochs.value(),
            min_steps=self.min_steps.value() or None,
            learning_rate=self.lr.value(),
            lr_schedule=self.lr_schedule.currentText(),
            batch_size=self.batch.value(),
            patch_size=self.patch.value() or None,
            lambda_rc=self.lambda_rc_value(),
            lambda_ic=self.lambda_ic.value(),
            seed=self.seed.value(),
            base_channels=self.base_channels.value(),
            device=self.device,
        )
