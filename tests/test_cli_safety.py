"""``nsn2n denoise`` loses nothing and says what is wrong in one line, before any work where it
can: options as typed, collisions, every input up front, models, full disks (in-process runs)."""

from __future__ import annotations

import errno
import os
import pathlib

import numpy as np
import pytest
import tifffile

from cli_runner import FAST, run_cli
from conftest import correlated_noise_stack
from napari_nsn2n import TrainConfig
from napari_nsn2n.io import read_volume
from napari_nsn2n.io.volume import is_partial
from napari_nsn2n.method.unet import build_unet
from napari_nsn2n.models import ModelBundle, load_model, save_model
from napari_nsn2n.stack import Normalizer

NOISY = correlated_noise_stack(shape=(5, 32, 32))[1]


@pytest.fixture
def nsn2n(capsys):
    return lambda *args: run_cli(capsys, *args)


@pytest.fixture
def tif(tmp_path):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, NOISY, imagej=True, metadata={"axes": "ZYX"})
    return path


def _files(folder: pathlib.Path) -> dict:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _one_error_line(result, code: int = 1) -> str:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0], result.stderr
    return lines[0]


def test_help_says_what_to_expect_on_a_cpu(nsn2n):
    result = nsn2n("denoise", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "1500 optimiser steps, measured at 0.19 s each on 2 idle cores" in text
    assert "min for a 48 x 256 x 256 stack" in text and "minutes on a CPU" not in text
    assert (
        "--preset quick stops when the loss on held-out pixels stops improving: about 2 min" in text
    )


def test_device_in_upper_case_is_that_device(tmp_path, tif, nsn2n):
    model = tmp_path / "m.pt"
    fast = [a for a in FAST if a not in ("--device", "cpu")]
    result = nsn2n(
        "denoise", tif, "-o", tmp_path / "o.tif", "--save-model", model, *fast, "--device", "CPU"
    )
    assert result.returncode == 0, result.stderr
    config = load_model(model).config
    assert config.device == "cpu" and config.base_channels == 16  # the CPU preset, not the GPU's
    assert "on 4 pairs, cpu" in result.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--min-steps", "-1"], "argument --min-steps: must be >= 0 (0 turns it off), got -1"),
        (["--seed", "-1"], "argument --seed: must be from 0 to 4294967295"),
        (["--seed", "1.5"], "argument --seed: expected a whole number, got '1.5'"),
        (["--threads", "0"], "argument --threads: must be >= 1"),
        (["--device", "gpu"], "argument --device: choose auto, cpu, cuda, cuda:N or mps"),
        (["--patch-size", "8"], "argument --patch-size: must be 0 (whole slices) or >= 16"),
        (["--lr", "0"], "argument --lr: must be a finite number > 0"),
        (["--lr", "nan"], "argument --lr: must be a finite number > 0"),
        (["--lambda-ic", "inf"], "argument --lambda-ic: must be a finite number >= 0"),
        (["--lambda-rc", "inf"], "argument --lambda-rc"),
        (["--batch-size", "2.5"], "argument --batch-size: expected a whole number"),
        (["--epochs", "0"], "argument --epochs: must be >= 1"),
        (["--threshold", "-1"], "argument --threshold"),
        (["--axes", "TZQX"], "argument --axes"),
        (["--save-model", "model.tif"], "--save-model model.tif: a model file ends in .pt"),
        (["--model", "a.pt", "--save-model", "b.pt"], "--save-model cannot go with --model"),
    ],
)
def test_bad_options_are_refused_as_typed_before_anything(tmp_path, tif, nsn2n, extra, message):
    before = _files(tmp_path)
    result = nsn2n("denoise", tif, "-o", tmp_path / "o.tif", *FAST, *extra)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr and _files(tmp_path) == before


def test_more_threads_than_cores_are_clamped_and_said(tmp_path, tif, nsn2n):
    import torch

    from napari_nsn2n.resources import available_cores

    before = torch.get_num_threads()
    try:
        result = nsn2n("denoise", tif, "-o", tmp_path / "o.tif", *FAST, "--threads", "100000")
        assert torch.get_num_threads() == available_cores()
    finally:
        torch.set_num_threads(before)
    assert result.returncode == 0, result.stderr
    assert f"--threads 100000: using {available_cores()}, the cores available" in result.stderr


def _model_file(path, depth=2, low=0.0, high=1.0, break_shapes=False):
    config = TrainConfig(base_channels=4, depth=depth, device="cpu")
    state = {k: v.clone() for k, v in build_unet(config).state_dict().items()}
    if break_shapes:
        state = {k: v.repeat(2, *([1] * (v.ndim - 1))) for k, v in state.items()}
    save_model(ModelBundle(state, config, Normalizer(low, high, "float32")), path)
    return path


def _refusals(tmp_path, tif):
    """(arguments, fragment of the one error line): all found before any work."""
    for name in ("x", "y"):
        (tmp_path / name).mkdir()
        np.save(tmp_path / name / "s.npy", NOISY)
    huge = tmp_path / "huge.npy"
    np.save(huge, NOISY.astype(np.float64) * 1e39)
    four = tmp_path / "four.npy"
    np.save(four, np.stack([NOISY, NOISY]))
    small = tmp_path / "small.npy"
    np.save(small, correlated_noise_stack(shape=(4, 8, 8))[1])
    os.link(tif, tmp_path / "alias.tif")
    existing = tmp_path / "old.tif"
    existing.write_bytes(b"keep")
    whole = tmp_path / "whole.tif"
    with tifffile.TiffWriter(whole) as writer:
        for plane in NOISY:
            writer.write(plane, contiguous=False, metadata=None)
    with tifffile.TiffFile(whole) as opened:
        cut_at = opened.pages[3].offset
    cut = tmp_path / "cut.tif"
    cut.write_bytes(whole.read_bytes()[:cut_at])
    shapes = _model_file(tmp_path / "shapes.pt", break_shapes=True)
    flat = tmp_path / "flat.pt"
    _model_file(flat, low=2.0, high=2.0)
    deep = _model_file(tmp_path / "deep.pt", depth=4)
    x, y, out = tmp_path / "x" / "s.npy", tmp_path / "y" / "s.npy", tmp_path / "out"
    return [
        ([x, y, "-o", out], "out/s_denoised.npy would be written twice (from"),
        ([x, y, "-o", out, "--overwrite"], "would be written twice"),
        ([tif, "-o", tif, "--overwrite"], "stack.tif is an input and would be replaced"),
        ([tif, "-o", tmp_path / "alias.tif", "--overwrite"], "is an input"),
        ([tif, "-o", existing], "old.tif already exists (use --overwrite to replace it)"),
        ([huge, "-o", tmp_path / "o.npy"], "do not fit in float32"),
        ([four, "-o", tmp_path / "o.npy", "--axis", "z"], "its axes have no names"),
        ([cut, "-o", tmp_path / "o.tif"], "cut.tif: truncated"),
        ([tif, "-o", tmp_path / "o.tif", "--model", shapes], "do not match its settings"),
        ([tif, "-o", tmp_path / "o.tif", "--model", flat], "degenerate normalisation"),
        ([small, "-o", tmp_path / "o.npy", "--model", deep], "too small for a U-Net of depth 4"),
        ([tif, cut, x, "-o", out], "1 of 3 inputs cannot be denoised: cannot read"),
    ]


def test_refusals_come_before_any_work_in_one_line_and_write_nothing(tmp_path, tif, nsn2n):
    for args, message in _refusals(tmp_path, tif):
        before = _files(tmp_path)
        result = nsn2n("denoise", *args, *FAST)
        line = _one_error_line(result)
        assert message in line, (message, line)
        assert "threshold" not in result.stderr  # no LPF, no training started
        assert _files(tmp_path) == before and not (tmp_path / "out").exists(), args


def test_many_inputs_make_their_folder_and_one_model_each(tmp_path, tif, nsn2n):
    second = tmp_path / "second.npy"
    np.save(second, NOISY)
    out, models = tmp_path / "new" / "denoised", tmp_path / "models"
    result = nsn2n("denoise", tif, second, "-o", out, "--save-model", models, *FAST)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["second_denoised.npy", "stack_denoised.tif"]
    assert sorted(p.name for p in models.iterdir()) == ["second.pt", "stack.pt"]
    assert f"created folder {out}" in result.stderr and "2 of 2 inputs denoised" in result.stderr
    applied = tmp_path / "applied.npy"
    again = nsn2n("denoise", second, "-o", applied, "--model", models / "second.pt", "-q")
    assert again.returncode == 0, again.stderr
    np.testing.assert_allclose(np.load(applied), np.load(out / "second_denoised.npy"), atol=1e-4)


def test_continue_on_error_goes_past_inputs_that_fail(tmp_path, tif, nsn2n):
    cut = tmp_path / "cut.tif"
    cut.write_bytes(tif.read_bytes()[:300])
    magnitude = tmp_path / "stack.npy"
    np.save(magnitude, NOISY - NOISY.min() + 0.1)
    negative = tmp_path / "negative.npy"  # passes the checks, fails in the run (--rician)
    np.save(negative, NOISY - 5.0)
    out = tmp_path / "out"
    args = ("denoise", magnitude, cut, negative, "-o", out, "--rician", *FAST)
    stopped = nsn2n(*args)
    assert stopped.returncode == 1 and not out.exists()  # the damaged input was found first
    result = nsn2n(*args, "--continue-on-error")
    assert result.returncode == 1
    assert sorted(p.name for p in out.iterdir()) == ["stack_denoised.npy"]
    assert f"skipped {cut}: cannot read" in result.stderr
    assert f"failed {negative}: Rician correction needs magnitude data" in result.stderr
    assert f"1 of 3 inputs denoised; failed: {cut}, {negative}" in result.stderr
    late = nsn2n("denoise", magnitude, negative, "-o", tmp_path / "o2", "--rician", *FAST)
    assert late.returncode == 1  # without the option: stop, and say what was written
    assert f"written: {tmp_path / 'o2' / 'stack_denoised.npy'}" in late.stderr.splitlines()[-1]


def test_a_full_disk_for_the_model_keeps_the_volume(tmp_path, tif, nsn2n, monkeypatch):
    real = pathlib.Path.write_bytes

    def full_disk(self, data):  # the model is the one file written with write_bytes
        real(self, bytes(data)[:100])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "write_bytes", full_disk)
    out, model = tmp_path / "o.tif", tmp_path / "m.pt"
    result = nsn2n("denoise", tif, "-o", out, "--save-model", model, *FAST)
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert f"cannot write model {model}: no space left on device; written: {out}" in line
    assert read_volume(out).data.shape == NOISY.shape  # the volume came first and is whole
    assert not model.exists() and not [p for p in tmp_path.iterdir() if is_partial(p)]


def test_a_run_that_cannot_train_fails_and_the_guard_speaks_on_stderr(tmp_path, tif, nsn2n):
    out = tmp_path / "o.tif"
    result = nsn2n("denoise", tif, "-o", out, *FAST, "--lr", "1e6", "--epochs", "40")
    assert result.returncode == 1
    assert "nsn2n: error: training failed" in result.stderr.splitlines()[-1]
    assert "loss spike at step" in result.stderr and result.stdout == ""
    assert not out.exists()


def test_axis_letters_need_axis_names_and_axes_gives_them(tmp_path, nsn2n):
    four = np.stack([NOISY, NOISY[::-1]])  # (T, Z, Y, X)
    np.save(tmp_path / "four.npy", four)
    tifffile.imwrite(tmp_path / "four.tif", four)
    for name in ("four.npy", "four.tif"):  # the same answer for both formats
        refused = nsn2n("denoise", tmp_path / name, "-o", tmp_path / f"x_{name}", "--axis", "z")
        assert "its axes have no names" in _one_error_line(refused)
    out = tmp_path / "o.npy"
    result = nsn2n(
        "denoise", tmp_path / "four.npy", "-o", out, "--axes", "TZYX", "--axis", "z", *FAST
    )
    assert result.returncode == 0, result.stderr
    assert np.load(out).shape == four.shape and "on 8 pairs" in result.stderr  # 2 x 4 along z


def test_three_slices_on_the_last_axis_are_a_stack_when_the_axis_says_so(tmp_path, nsn2n):
    planes = np.moveaxis(correlated_noise_stack(shape=(3, 32, 32))[1], 0, -1)
    np.save(tmp_path / "planes.npy", planes)
    assert "RGB" in _one_error_line(
        nsn2n("denoise", tmp_path / "planes.npy", "-o", tmp_path / "a.npy")
    )
    result = nsn2n(
        "denoise", tmp_path / "planes.npy", "-o", tmp_path / "b.npy", "--axis", "2", *FAST
    )
    assert result.returncode == 0, result.stderr


def test_reader_notes_and_options_reach_the_user(tmp_path, nsn2n):
    path = tmp_path / "two.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as writer:
        writer.write(NOISY, metadata={"axes": "ZYX"})
        writer.write(NOISY[:3], metadata={"axes": "ZYX"})
    result = nsn2n("denoise", path, "-o", tmp_path / "o.tif", *FAST)
    assert result.returncode == 0, result.stderr
    assert "two.ome.tif: note: the file holds 2 series" in result.stderr
    second = nsn2n("denoise", path, "-o", tmp_path / "s.tif", "--series", "1", *FAST)
    assert second.returncode == 0 and read_volume(tmp_path / "s.tif").data.shape == (3, 32, 32)


def test_a_dicom_series_with_a_gap_is_refused_unless_asked(tmp_path, nsn2n):
    pydicom = pytest.importorskip("pydicom")
    from dicom_series import write_ct_series

    series = tmp_path / "ct"
    series.mkdir()
    write_ct_series(series, n=6, spacing=2.0)
    files = sorted(
        series.iterdir(), key=lambda f: float(pydicom.dcmread(f).ImagePositionPatient[2])
    )
    for f in files:  # 6 x 7 slices are too small to train on: make them 16 x 16
        ds = pydicom.dcmread(f)
        ds.Rows = ds.Columns = 16
        value = int(np.frombuffer(ds.PixelData, np.uint16)[1])
        noise = np.random.default_rng(len(f.name)).integers(0, 50, (16, 16))
        ds.PixelData = (value + noise).astype(np.uint16).tobytes()
        ds.save_as(f)
    files[3].unlink()
    out = tmp_path / "ct.tif"
    refused = nsn2n("denoise", series, "-o", out, *FAST)
    assert "not evenly spaced: 4 mm between slices 2 and 3" in _one_error_line(refused)
    result = nsn2n("denoise", series, "-o", out, "--allow-gaps", *FAST)
    assert result.returncode == 0, result.stderr
    assert "ct: note: gap: 4 mm" in result.stderr and read_volume(out).data.shape == (5, 16, 16)
