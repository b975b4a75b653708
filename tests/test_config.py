"""TrainConfig refuses wrong types, out-of-range values and unknown keys with a line naming the field."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from napari_nsn2n.config import TrainConfig
from napari_nsn2n.errors import InvalidSettingError, NSN2NError

# TrainConfig().to_dict() as model files hold it (format version 1): such files must keep loading.
SAVED = {
    "epochs": 100,
    "min_steps": None,
    "learning_rate": 0.001,
    "lr_halving_epochs": None,
    "lr_schedule": "step",
    "beta1": 0.5,
    "beta2": 0.999,
    "lambda_rc": 0.5,
    "lambda_ic": 1.0,
    "use_mask": True,
    "batch_size": 4,
    "patch_size": 128,
    "augment": True,
    "base_channels": 32,
    "depth": 3,
    "residual": True,
    "group_norm": False,
    "seed": 0,
    "device": "auto",
    "mixed_precision": True,
    "num_threads": None,
    "validation_fraction": 0.0,
    "validation_every": 50,
    "stop_patience": None,
}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("batch_size", 4.5, "batch_size must be a whole number, got 4.5"),
        ("batch_size", 4.0, "batch_size must be a whole number"),
        ("epochs", "60", "epochs must be a whole number, got '60'"),
        ("epochs", True, "epochs must be a whole number"),
        ("epochs", 0, "epochs must be >= 1"),
        ("learning_rate", "1e-3", "learning_rate must be a number"),
        ("learning_rate", math.nan, "learning_rate must be a finite number"),
        ("lambda_ic", math.inf, "lambda_ic must be a finite number"),
        ("lambda_rc", math.inf, "lambda_rc must be"),
        ("lambda_rc", "sometimes", "lambda_rc must be a number or 'auto'"),
        ("lr_schedule", "cosine", "lr_schedule must be 'step', 'late' or 'plateau'"),
        ("use_mask", "yes", "use_mask must be True or False"),
        ("patch_size", 8, "patch_size must be >= 16"),
        ("depth", 7, "depth must be <= 6"),
        ("seed", -1, "seed must be >= 0"),
        ("seed", 2**32, "seed must be < 4294967296"),
        ("seed", 1.5, "seed must be a whole number"),
        ("device", "gpu", "device must be auto, cpu, cuda, cuda:N or mps"),
        ("device", None, "device must be text"),
        ("num_threads", 0, "num_threads must be >= 1"),
    ],
)
def test_wrong_types_and_ranges_name_the_field(field, value, message):
    with pytest.raises(InvalidSettingError, match="invalid training setting") as info:
        TrainConfig(**{field: value})
    assert message in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)


def test_replace_is_checked_too():
    with pytest.raises(InvalidSettingError, match="batch_size"):
        dataclasses.replace(TrainConfig(), batch_size=2.5)


def test_numpy_scalars_count_as_numbers_and_ints_as_floats():
    config = TrainConfig(epochs=np.int64(3), learning_rate=np.float32(0.5), lambda_ic=1)
    assert config.epochs == 3 and type(config.epochs) is int
    assert type(config.learning_rate) is float and type(config.lambda_ic) is float
    assert TrainConfig(seed=2**32 - 1).seed == 2**32 - 1


def test_device_is_case_insensitive_and_the_auto_preset_honours_it():
    assert TrainConfig(device="CPU").device == "cpu"
    assert TrainConfig(device=" Cuda:1 ").device == "cuda:1"
    # "CPU" is the CPU: the fast preset, as for "cpu" (it took the GPU preset)
    assert TrainConfig.preset("auto", device="CPU") == TrainConfig.preset("fast", device="cpu")


def test_from_dict_refuses_unknown_keys_naming_them():
    with pytest.raises(InvalidSettingError) as info:
        TrainConfig.from_dict({**SAVED, "epoch": 3, "colour": "red"})
    message = str(info.value)
    assert "'epoch' (did you mean 'epochs'?)" in message and "'colour'" in message


def test_saved_configs_and_every_default_and_preset_load_unchanged():
    assert TrainConfig.from_dict(SAVED) == TrainConfig()  # fields added since take defaults
    today = TrainConfig().to_dict()
    assert {k: today[k] for k in SAVED} == SAVED
    for name in ("paper", "fast", "auto"):
        preset = TrainConfig.preset(name, device="cpu")
        assert TrainConfig.from_dict(preset.to_dict()) == preset
    fast = TrainConfig.preset("fast")
    assert (fast.epochs, fast.min_steps, fast.base_channels, fast.patch_size) == (16, 1500, 16, 64)
    assert (fast.batch_size, fast.lr_schedule, fast.lambda_rc) == (8, "late", "auto")
    quick = TrainConfig.preset("quick")
    assert (quick.min_steps, quick.base_channels, quick.patch_size, quick.batch_size) == (
        4000, 16, 48, 4,
    )  # fmt: skip
    assert (quick.lr_schedule, quick.validation_fraction, quick.stop_patience) == (
        "plateau", 0.05, 3,
    )  # fmt: skip


def test_fixed_length_turns_the_stop_rule_off_and_keeps_the_rest():
    quick = TrainConfig.preset("quick")
    fixed = quick.fixed_length()
    assert (fixed.stop_patience, fixed.lr_schedule) == (None, "late")
    assert fixed.validation_fraction == quick.validation_fraction  # still measured and reported
    assert dataclasses.replace(fixed, stop_patience=3, lr_schedule="plateau") == quick
    paper = TrainConfig.preset("paper")
    assert paper.fixed_length() is paper  # nothing to turn off
    step = dataclasses.replace(quick, lr_schedule="step")
    assert step.fixed_length().lr_schedule == "step"  # only plateau needs the rule


def test_rules_between_fields_still_hold():
    with pytest.raises(NSN2NError, match="validation_fraction"):
        TrainConfig(stop_patience=3)


def test_a_model_file_of_format_1_loads_and_applies():
    """tests/data/model_format1.pt was written by the code these checks were added to (fast
    preset, 4 channels, depth 1, HU normalisation): it must keep loading."""
    from pathlib import Path

    from napari_nsn2n.models import load_model
    from napari_nsn2n.pipeline import apply_model

    bundle = load_model(Path(__file__).with_name("data") / "model_format1.pt")
    assert (bundle.config.base_channels, bundle.config.depth, bundle.config.lr_schedule) == (
        4,
        1,
        "late",
    )
    assert (bundle.normalizer.low, bundle.normalizer.high, bundle.threshold) == (-1024, 3071, 0.01)
    stack = np.random.default_rng(0).integers(-1000, 2000, (3, 16, 16)).astype(np.int16)
    out = apply_model(bundle, stack, device="cpu")
    assert out.shape == stack.shape and np.isfinite(out).all()
