"""The Python API refuses what it cannot take with typed one-line errors, and a run that cannot
train fails with a reason instead of returning its input or noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import correlated_noise_stack
from napari_nsn2n import TrainConfig
from napari_nsn2n.errors import (
    InvalidSettingError,
    InvalidStackError,
    NSN2NError,
    TrainingFailed,
)
from napari_nsn2n.events import Recovered
from napari_nsn2n.method.unet import build_unet
from napari_nsn2n.models import ModelBundle
from napari_nsn2n.pipeline import ApplyRequest, RunRequest, apply_model, denoise, run
from napari_nsn2n.resources import available_cores
from napari_nsn2n.stack import Normalizer

TINY = TrainConfig(epochs=2, batch_size=2, patch_size=None, base_channels=8, depth=2, device="cpu")
STACK = correlated_noise_stack(shape=(6, 32, 32))[1]


def _one_line(info: pytest.ExceptionInfo) -> str:
    message = str(info.value)
    assert message and "\n" not in message
    return message


@pytest.mark.parametrize("threshold", [-1, 1.5, float("nan"), "often"])
def test_thresholds_outside_the_unit_scale_are_refused(threshold):
    with pytest.raises(InvalidSettingError, match="threshold") as info:
        denoise(STACK, threshold=threshold, config=TINY)
    _one_line(info)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (STACK.tolist(), "got a list: convert it with np.asarray"),
        (torch.from_numpy(STACK), "got a torch.Tensor: convert it with tensor.detach"),
        ("stack.tif", "the stack must be an array, got builtins.str"),
    ],
)
def test_the_stack_must_be_an_array(data, message):
    for call in (
        lambda: denoise(data, threshold=0.05, config=TINY),
        lambda: apply_model(_bundle(depth=2), data),
    ):
        with pytest.raises(InvalidStackError) as info:
            call()
        assert message in _one_line(info)


def test_dask_stacks_are_taken_but_not_as_out():
    da = pytest.importorskip("dask.array")
    lazy = da.from_array(STACK, chunks=(2, 32, 32))
    assert RunRequest(lazy).data is lazy
    with pytest.raises(InvalidSettingError, match="out must be a writable NumPy array") as info:
        RunRequest(STACK, out=da.zeros(STACK.shape))
    _one_line(info)
    frozen = np.zeros(STACK.shape, np.float32)
    frozen.flags.writeable = False
    with pytest.raises(InvalidSettingError, match="read-only"):
        ApplyRequest(STACK, out=frozen)
    with pytest.raises(InvalidSettingError, match=r"out has shape \(3,\)"):
        ApplyRequest(STACK, out=np.zeros(3, np.float32))


def test_fields_and_keywords_are_checked_like_the_cli_options():
    with pytest.raises(InvalidSettingError, match=r"'threshhold' \(did you mean 'threshold'\?\)"):
        denoise(STACK, threshhold=0.1)
    with pytest.raises(InvalidSettingError, match="config must be a TrainConfig"):
        RunRequest(STACK, config={"epochs": 2})
    with pytest.raises(InvalidSettingError, match="tta must be True or False"):
        RunRequest(STACK, tta="yes")
    with pytest.raises(InvalidSettingError, match="axes must be distinct letters"):
        ApplyRequest(STACK, axes="ZZX")
    with pytest.raises(InvalidSettingError, match="batch_size must be >= 1"):
        ApplyRequest(STACK, batch_size=0)
    assert ApplyRequest(STACK, device="CPU").device == "cpu"
    assert RunRequest(STACK, threshold="AUTO").threshold == "auto"


def test_values_beyond_float32_are_refused_not_turned_into_nan():
    huge = STACK.astype(np.float64) * 1e39
    with pytest.raises(InvalidStackError, match="do not fit in float32") as info:
        denoise(huge, threshold=0.05, config=TINY)
    _one_line(info)
    offset = STACK.astype(np.float64) + 1e10  # the noise is below float32's resolution there
    with pytest.raises(InvalidStackError, match="too few levels"):
        denoise(offset, threshold=0.05, config=TINY)


def test_a_stack_of_three_slices_along_the_last_axis_is_not_rgb():
    planes = np.moveaxis(correlated_noise_stack(shape=(3, 32, 32))[1], 0, -1)  # (32, 32, 3)
    with pytest.raises(InvalidStackError, match="RGB"):
        denoise(planes, threshold=0.05, config=TINY)
    out = denoise(planes, threshold=0.05, config=TINY, axis=2)
    assert out.shape == planes.shape and np.isfinite(out).all()


def test_an_impossible_learning_rate_fails_instead_of_returning_the_input():
    config = TrainConfig(**{**TINY.to_dict(), "epochs": 40, "learning_rate": 1e6})
    events = []
    with pytest.raises(TrainingFailed, match="lower the learning rate") as info:
        events.extend(run(STACK, threshold=0.05, config=config))
    _one_line(info)
    assert sum(isinstance(e, Recovered) for e in events) >= 7  # the guard tried first


def test_a_run_that_diverges_to_finite_losses_fails():
    config = TrainConfig(**{**TINY.to_dict(), "epochs": 30, "learning_rate": 1.0})
    with pytest.raises(TrainingFailed, match="training diverged"):
        denoise(STACK, threshold=0.05, config=config)


def _bundle(depth: int) -> ModelBundle:
    config = TrainConfig(base_channels=4, depth=depth, device="cpu")
    state = {k: v.clone() for k, v in build_unet(config).state_dict().items()}
    return ModelBundle(state, config, Normalizer(0.0, 1.0, "float32"))


def test_a_deep_model_on_small_slices_is_one_line_before_any_work():
    small = correlated_noise_stack(shape=(4, 8, 8))[1]
    with pytest.raises(InvalidStackError, match="too small for a U-Net of depth 4") as info:
        apply_model(_bundle(depth=4), small, device="cpu")
    assert "at least 9 px" in _one_line(info)
    deep = TrainConfig(**{**TINY.to_dict(), "depth": 4})
    with pytest.raises(InvalidStackError, match="depth 4"):
        next(iter(run(small, threshold=0.05, config=deep)))
    assert apply_model(_bundle(depth=2), small, device="cpu").shape == small.shape


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_an_unavailable_device_fails_before_the_lowpass_stage():
    events = run(
        STACK, threshold="auto", config=TrainConfig(**{**TINY.to_dict(), "device": "CUDA"})
    )
    with pytest.raises(NSN2NError, match="CUDA is not available"):
        next(iter(events))  # the first event would be the LPF's progress


def test_more_threads_than_cores_are_clamped():
    before = torch.get_num_threads()
    try:
        config = TrainConfig(**{**TINY.to_dict(), "epochs": 1, "num_threads": 100_000})
        out = denoise(STACK, threshold=0.05, config=config)
        assert torch.get_num_threads() == available_cores()
        assert np.isfinite(out).all()
    finally:
        torch.set_num_threads(before)
