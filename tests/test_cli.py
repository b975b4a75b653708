"""The ``nsn2n`` command line end to end on real files, run in-process (``cli.main.main(argv)``,
output captured) where a subprocess adds nothing; tests/test_cli_processes.py keeps the ones
where separate processes are the point (concurrency, signals, the installed entry point)."""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
import pytest
import tifffile

from cli_runner import FAST, run_cli
from conftest import correlated_noise_stack
from napari_nsn2n.io import read_volume


@pytest.fixture
def nsn2n(capsys):
    return lambda *args: run_cli(capsys, *args)


@pytest.fixture
def tif_stack(tmp_path):
    _, noisy = correlated_noise_stack(shape=(5, 32, 32))
    path = tmp_path / "stack.tif"
    tifffile.imwrite(
        path,
        noisy,
        imagej=True,
        resolution=(1 / 0.5, 1 / 0.5),
        metadata={"spacing": 2.0, "unit": "um", "axes": "ZYX"},
    )
    return path


def test_help_shows_examples(nsn2n):
    result = nsn2n("denoise", "--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout and "--threshold" in result.stdout


def test_denoise_end_to_end_keeps_spacing_and_saves_a_model(tmp_path, tif_stack, nsn2n):
    out, model = tmp_path / "out.tif", tmp_path / "model.pt"
    result = nsn2n(
        "denoise",
        tif_stack,
        "-o",
        out,
        "--threshold",
        "0.05",
        "--save-model",
        model,
        "--seed",
        "3",
        *FAST,
    )
    assert result.returncode == 0, result.stderr
    written, source = read_volume(out), read_volume(tif_stack)
    assert written.data.shape == source.data.shape and written.data.dtype == np.float32
    np.testing.assert_allclose(written.spacing, source.spacing, rtol=1e-6)
    assert not np.allclose(written.data, source.data)
    # the saved model applies to the same stack and gives the same result
    again = tmp_path / "again.tif"
    result = nsn2n("denoise", tif_stack, "-o", again, "--model", model, "-q")
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(read_volume(again).data, written.data, atol=1e-4)


def test_nifti_in_hu_out_with_affine_and_dtype(tmp_path, nsn2n):
    _, noisy = correlated_noise_stack(shape=(4, 32, 32))
    hu = np.round(noisy * 1500 - 1000).astype(np.int16).transpose(2, 1, 0)  # nibabel is XYZ
    affine = np.diag([0.7, 0.7, 2.5, 1.0])
    affine[:3, 3] = [-10, 20, 30]
    src = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(hu, affine), src)
    out = tmp_path / "ct_denoised.nii.gz"
    result = nsn2n("denoise", src, "-o", out, "--keep-dtype", "--threshold", "auto", *FAST)
    assert result.returncode == 0, result.stderr
    img = nib.load(out)
    np.testing.assert_allclose(img.affine, affine)
    assert np.asanyarray(img.dataobj).dtype == np.int16


def test_min_steps_and_explicit_epochs(tmp_path, tif_stack, nsn2n):
    # 5 slices of 32 x 32 -> 4 pairs of one 32 px patch, batch 2: 2 steps per epoch
    common = ["--batch-size", "2", "--patch-size", "32", "--threads", "1", "--seed", "1"]
    asked = nsn2n("denoise", tif_stack, "-o", tmp_path / "a.tif", "--epochs", "1", *common)
    raised = nsn2n(
        "denoise", tif_stack, "-o", tmp_path / "b.tif", "--epochs", "1", "--min-steps", "7", *common
    )
    assert asked.returncode == 0 and raised.returncode == 0, asked.stderr + raised.stderr
    assert "2/2" in asked.stderr and "8/8" not in asked.stderr  # --epochs alone: exactly that
    assert "8/8" in raised.stderr  # ceil(7 / 2) = 4 epochs
    assert not np.allclose(
        read_volume(tmp_path / "a.tif").data, read_volume(tmp_path / "b.tif").data
    )


def test_mask_command_writes_labels(tmp_path, tif_stack, nsn2n):
    out = tmp_path / "mask.tif"
    result = nsn2n("mask", tif_stack, "--threshold", "0.02", "-o", out)
    assert result.returncode == 0, result.stderr
    labels = read_volume(out).data
    assert labels.shape == (5, 32, 32) and set(np.unique(labels)) <= {0, 1, 2}
    assert (labels[-1] == 0).all() and (labels[:-1] > 0).all()
    assert "matched" in result.stderr


def test_mask_command_stabilises_photon_limited_stacks(tmp_path, nsn2n):
    from napari_nsn2n.samples import microscopy_stack

    path = tmp_path / "cells.tif"
    tifffile.imwrite(path, microscopy_stack((8, 128, 128)).noisy)
    auto = nsn2n("mask", path, "-o", tmp_path / "auto.tif")
    assert auto.returncode == 0, auto.stderr
    assert "variance-stabilised" in auto.stderr and "Poisson-Gaussian" in auto.stderr
    off = nsn2n(
        "mask", path, "--stabilize", "off", "--threshold", "0.02", "-o", tmp_path / "off.tif"
    )
    assert off.returncode == 0, off.stderr
    assert "stabilised" not in off.stderr
    on = read_volume(tmp_path / "auto.tif").data
    assert not np.array_equal(on, read_volume(tmp_path / "off.tif").data)


def test_several_inputs_into_a_folder(tmp_path, tif_stack, nsn2n):
    second = tmp_path / "second.npy"
    np.save(second, correlated_noise_stack(shape=(3, 32, 32), seed=2)[1])
    folder = tmp_path / "results"
    folder.mkdir()
    result = nsn2n("denoise", tif_stack, second, "-o", folder, "--threshold", "0.05", *FAST)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["second_denoised.npy", "stack_denoised.tif"]


def _bad(tmp_path, tif_stack):
    two_d = tmp_path / "flat.npy"
    np.save(two_d, np.random.rand(32, 32))
    one = tmp_path / "one.npy"
    np.save(one, np.random.rand(1, 32, 32))
    nan = tmp_path / "nan.npy"
    np.save(nan, np.where(np.random.rand(3, 32, 32) > 0.9, np.nan, 1.0))
    const = tmp_path / "const.npy"
    np.save(const, np.ones((3, 32, 32)))
    rgb = tmp_path / "rgb.npy"
    np.save(rgb, np.zeros((3, 32, 32, 3), np.uint8))
    four = tmp_path / "four.npy"
    np.save(four, np.random.rand(2, 3, 32, 32))
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(b"\x00garbage" * 10)
    unknown = tmp_path / "stack.xyz"
    unknown.write_text("?")
    existing = tmp_path / "exists.tif"
    existing.write_bytes(b"keep me")
    notmodel = tmp_path / "model.pt"
    notmodel.write_bytes(b"nope")
    out = tmp_path / "new.tif"
    return [
        ([two_d, "-o", out], "2D image"),
        ([one, "-o", out], "only 1 slice"),
        ([nan, "-o", out], "NaN"),
        ([const, "-o", out], "constant"),
        ([rgb, "-o", out], "RGB"),
        ([four, "-o", out], "slice-axis choice"),
        ([corrupt, "-o", out], "corrupt.tif"),
        ([unknown, "-o", out], "stack.xyz"),
        ([tmp_path / "missing.tif", "-o", out], "missing.tif"),
        ([tif_stack, "-o", tmp_path / "no_such_dir" / "o.tif"], "does not exist"),
        ([tif_stack, "-o", existing], "exists"),
        ([tif_stack, "-o", out, "--model", notmodel], "not a napari-nsn2n model"),
    ]


def test_bad_input_gives_one_line_error_nonzero_exit_and_writes_nothing(tmp_path, tif_stack, nsn2n):
    for args, message in _bad(tmp_path, tif_stack):
        before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
        result = nsn2n("denoise", *args, *FAST)
        assert result.returncode == 1, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("nsn2n: error:"), result.stderr
        assert message in lines[0], (message, lines[0])
        after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
        assert after == before, f"{args} wrote or changed files"


def test_read_only_output_folder(tmp_path, tif_stack, nsn2n):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    result = nsn2n("denoise", tif_stack, "-o", blocker / "out.tif", *FAST)
    assert result.returncode == 1 and "nsn2n: error:" in result.stderr
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        result = nsn2n("denoise", tif_stack, "-o", locked / "out.tif", *FAST)
        assert result.returncode == 1 and "not writable" in result.stderr


def test_lr_schedule_option_reaches_the_trained_model(tmp_path, tif_stack, nsn2n):
    from napari_nsn2n.models import load_model

    common = ["--epochs", "4", "--batch-size", "2", "--patch-size", "32", "--threads", "1", "-q"]
    common += ["--device", "cpu"]  # the CPU default is asserted: pin the device
    runs = {}
    for name, extra in (("default", []), ("step", ["--lr-schedule", "step"])):
        out, model = tmp_path / f"{name}.tif", tmp_path / f"{name}.pt"
        result = nsn2n("denoise", tif_stack, "-o", out, "--save-model", model, *extra, *common)
        assert result.returncode == 0, result.stderr
        runs[name] = (read_volume(out).data, load_model(model).config.lr_schedule)
    assert runs["default"][1] == "late" and runs["step"][1] == "step"  # the CPU default: fast
    assert not np.allclose(runs["default"][0], runs["step"][0])
    bad = nsn2n("denoise", tif_stack, "-o", tmp_path / "x.tif", "--lr-schedule", "cosine")
    assert bad.returncode == 2 and "--lr-schedule" in bad.stderr


def test_rician_option_removes_the_background_floor(tmp_path, nsn2n):
    from napari_nsn2n.samples import mri_stack

    sample = mri_stack((6, 48, 48), level=0.05)
    source = tmp_path / "t1.nii.gz"
    nib.save(nib.Nifti1Image(np.moveaxis(sample.noisy, 0, -1), np.eye(4)), source)
    outputs = {}
    for name, extra in (("plain", []), ("auto", ["--rician"]), ("given", ["--rician", "0.04"])):
        out = tmp_path / f"{name}.nii.gz"
        result = nsn2n("denoise", source, "-o", out, "--threshold", "0.05", *extra, *FAST)
        assert result.returncode == 0, result.stderr
        assert ("Rician bias removed" in result.stderr) == (name != "plain")
        outputs[name] = read_volume(out).data
    clean = tmp_path / "clean.nii.gz"  # read back as the outputs are (the reader's axis order)
    nib.save(nib.Nifti1Image(np.moveaxis(sample.clean, 0, -1), np.eye(4)), clean)
    background = read_volume(clean).data == 0
    assert outputs["auto"][background].mean() < 0.5 * outputs["plain"][background].mean()
    assert "sigma 0.04" in result.stderr  # the given sigma is used as it is
    for bad in ("0", "abc"):
        rejected = nsn2n("denoise", source, "-o", tmp_path / "x.nii.gz", "--rician", bad)
        assert rejected.returncode == 2 and "--rician" in rejected.stderr


def test_lambda_rc_auto_is_reported_and_bad_weights_refused(tmp_path, nsn2n):
    """The default preset chooses the L_RC weight from the data and says so; a given weight is used
    silently; negative or non-numeric weights exit 2."""
    source = tmp_path / "white.npy"
    np.save(source, correlated_noise_stack(shape=(4, 32, 32), sigma=0.02, blur=0)[1])
    out = tmp_path / "out.tif"
    auto = nsn2n("denoise", source, "-o", out, "--threshold", "0.05", *FAST)
    assert auto.returncode == 0, auto.stderr
    assert "L_RC weight 0 (auto: pixel-independent noise)" in auto.stderr
    given = nsn2n("denoise", source, "-o", out, "--overwrite", "--lambda-rc", "0.3", *FAST)
    assert given.returncode == 0, given.stderr
    assert "L_RC weight" not in given.stderr
    for bad in ("-1", "often"):
        rejected = nsn2n("denoise", source, "-o", out, "--overwrite", "--lambda-rc", bad)
        assert rejected.returncode == 2 and "--lambda-rc" in rejected.stderr


def test_residual_is_written_beside_each_output_and_is_what_was_removed(tmp_path, tif_stack, nsn2n):
    out = tmp_path / "out.tif"
    result = nsn2n("denoise", tif_stack, "-o", out, "--threshold", "0.05", "--residual", *FAST)
    assert result.returncode == 0, result.stderr
    residual = read_volume(tmp_path / "out_residual.tif")
    source, denoised = read_volume(tif_stack), read_volume(out)
    assert residual.data.dtype == np.float32
    np.testing.assert_allclose(residual.spacing, source.spacing, rtol=1e-6)
    expected = source.data.astype(np.float32) - denoised.data
    np.testing.assert_allclose(residual.data, expected, atol=1e-3)
    assert "residual:" in result.stderr
    # the residual is an output like the others: never over an existing file
    again = nsn2n("denoise", tif_stack, "-o", tmp_path / "b.tif", "--residual", *FAST)
    assert again.returncode == 0
    (tmp_path / "c.tif").touch()
    clash = nsn2n("denoise", tif_stack, "-o", tmp_path / "c.tif", "--residual", *FAST)
    assert clash.returncode != 0 and not (tmp_path / "c_residual.tif").exists()


def test_holdout_shows_the_held_out_loss_and_the_stop_rule_ends_training_early(
    tmp_path, tif_stack, nsn2n
):
    from napari_nsn2n.models import load_model

    common = ["--batch-size", "2", "--patch-size", "32", "--threads", "1", "--min-steps", "0"]
    watched = nsn2n(
        "denoise", tif_stack, "-o", tmp_path / "a.tif", "--epochs", "30", "--holdout", "0.2",
        "--lambda-self", "0.5", "--save-model", tmp_path / "a.pt", *common,
    )  # fmt: skip
    assert watched.returncode == 0, watched.stderr
    assert "held-out" in watched.stderr and "stopped early" not in watched.stderr
    assert load_model(tmp_path / "a.pt").config.lambda_self == 0.5
    stopped = nsn2n(
        "denoise", tif_stack, "-o", tmp_path / "b.tif", "--epochs", "400", "--holdout", "0.2",
        "--stop-patience", "1", *common,
    )  # fmt: skip
    assert stopped.returncode == 0, stopped.stderr
    assert "the held-out loss stopped training at step" in stopped.stderr, stopped.stderr
    alone = nsn2n(
        "denoise", tif_stack, "-o", tmp_path / "c.tif", "--stop-patience", "2", "--holdout", "0"
    )
    assert alone.returncode == 2 and "--stop-patience needs --holdout" in alone.stderr
    for bad in ("0.5", "-0.1", "x"):
        rejected = nsn2n("denoise", tif_stack, "-o", tmp_path / "d.tif", "--holdout", bad)
        assert rejected.returncode == 2 and "--holdout" in rejected.stderr


def test_keep_structure_is_on_by_default_and_can_be_turned_off(tmp_path, nsn2n):
    from napari_nsn2n.method.structure import keep_structure
    from test_structure import _lesion_stack

    source = tmp_path / "lesion.tif"
    tifffile.imwrite(source, _lesion_stack()[1])
    common = ["--epochs", "10", "--batch-size", "4", "--patch-size", "0", "--threads", "1"]
    common += ["--device", "cpu", "-q"]
    kept = nsn2n("denoise", source, "-o", tmp_path / "kept.tif", *common)
    plain = nsn2n("denoise", source, "-o", tmp_path / "plain.tif", "--no-keep-structure", *common)
    assert kept.returncode == 0 and plain.returncode == 0, kept.stderr + plain.stderr
    network = read_volume(tmp_path / "plain.tif").data
    with_structure = read_volume(tmp_path / "kept.tif").data
    assert not np.array_equal(with_structure, network)
    noisy = read_volume(source).data
    np.testing.assert_allclose(with_structure, keep_structure(noisy, network), atol=1e-4)


def test_the_quick_preset_stops_itself_and_a_length_asked_for_is_trained_in_full():
    from napari_nsn2n.cli.main import build_parser
    from napari_nsn2n.cli.options import training_config

    def config(*options):
        args = build_parser().parse_args(["denoise", "in.tif", "-o", "out.tif", *options])
        return training_config(args)

    assert config("--device", "cpu").stop_patience is None  # the CPU default: a fixed length
    quick = config("--device", "cpu", "--preset", "quick")
    assert (quick.stop_patience, quick.lr_schedule, quick.validation_fraction) == (
        3, "plateau", 0.05,
    )  # fmt: skip
    for asked in (["--epochs", "5"], ["--min-steps", "300"], ["--stop-patience", "0"]):
        fixed = config("--device", "cpu", "--preset", "quick", *asked)
        assert (fixed.stop_patience, fixed.lr_schedule) == (None, "late"), asked
        assert fixed.validation_fraction == 0.05, asked  # the held-out loss is still shown
    off = config("--device", "cpu", "--preset", "quick", "--holdout", "0")
    assert (off.stop_patience, off.validation_fraction, off.lr_schedule) == (None, 0.0, "late")
    both = config("--device", "cpu", "--preset", "quick", "--epochs", "5", "--stop-patience", "2")
    assert (both.stop_patience, both.lr_schedule, both.min_steps) == (2, "plateau", None)
    paper = config("--device", "cpu", "--preset", "paper", "--epochs", "5")
    assert (paper.stop_patience, paper.lr_schedule) == (None, "step")
