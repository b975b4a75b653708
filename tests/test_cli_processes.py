"""``nsn2n`` as separate processes, where that is the point: two runs racing for one output, real
signals in the middle of a run, and the installed entry point."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import correlated_noise_stack
from napari_nsn2n.io import read_volume
from napari_nsn2n.io.volume import is_partial

TINY = ["--batch-size", "2", "--patch-size", "32", "--threads", "1", "--device", "cpu"]
ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


def _interruptible() -> None:
    """Ctrl-C reaches the CLI as it does from a terminal, even when this test run was started in
    the background (``cmd &`` starts it with SIGINT ignored, and a child inherits that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(*args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "napari_nsn2n.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        preexec_fn=_interruptible,
    )


def _stack(path: Path, seed: int = 0) -> Path:
    np.save(path, correlated_noise_stack(shape=(6, 32, 32), seed=seed)[1])
    return path


def test_two_runs_racing_for_one_output_never_replace_each_other(tmp_path):
    """Both pass the up-front check and train (300 steps): one result lands, the other run fails
    at its write and says so, whichever finishes first. (The race at the very moment of the
    write is tested with released processes in tests/test_outputs.py.)"""
    source, out = _stack(tmp_path / "in.npy"), tmp_path / "out.npy"
    runs = [
        _start("denoise", source, "-o", out, "--epochs", "100", "--seed", str(k), *TINY, "-q")
        for k in range(2)
    ]
    results = [run.communicate(timeout=600)[1] for run in runs]
    assert all("epochs x" in err for err in results), results  # both trained
    codes = sorted(run.returncode for run in runs)
    assert codes == [0, 1], results
    loser = next(err for run, err in zip(runs, results, strict=True) if run.returncode == 1)
    assert "created by another process" in loser or "already exists (use --overwrite" in loser
    assert read_volume(out).data.shape == (6, 32, 32)
    assert not [p for p in tmp_path.iterdir() if is_partial(p)]


def _wait_for(condition, proc: subprocess.Popen, seconds: float = 600) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_ctrl_c_on_the_second_input_says_what_the_first_wrote(tmp_path):
    first, second = _stack(tmp_path / "a.npy"), _stack(tmp_path / "b.npy", seed=1)
    out, models = tmp_path / "out", tmp_path / "models"
    run = _start(
        "denoise", first, second, "-o", out, "--save-model", models, "--epochs", "100", *TINY
    )
    # 100 epochs each (300 steps); wait until its results are written
    _wait_for(lambda: (models / "a.pt").exists(), run)
    time.sleep(1.0)  # well into the second input's run
    run.send_signal(signal.SIGINT)
    code = run.wait(timeout=120)
    last = run.communicate()[1].strip().splitlines()[-1]
    assert code == 130
    assert last == f"nsn2n: interrupted; written: {out / 'a_denoised.npy'}, {models / 'a.pt'}"
    assert sorted(p.name for p in out.iterdir()) == ["a_denoised.npy"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_termination_signal_mid_run_exits_like_the_shell_and_writes_nothing(tmp_path, signum):
    source, out = _stack(tmp_path / "in.npy"), tmp_path / "out.npy"
    run = _start("denoise", source, "-o", out, "--epochs", "400", *TINY)
    _wait_for(lambda: "training" in (run.stderr.readline() or ""), run)
    run.send_signal(signum)
    code = run.wait(timeout=120)
    last = run.communicate()[1].strip().splitlines()[-1]
    assert code == 128 + signum
    assert last == f"nsn2n: stopped by {signal.Signals(signum).name}; nothing written"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy"]


def test_the_installed_entry_point_runs():
    script = Path(sys.executable).with_name("nsn2n")
    if not script.exists():
        pytest.skip("no nsn2n script beside this Python (package not installed)")
    result = subprocess.run(
        [str(script), "denoise", "--help"], capture_output=True, text=True, env=ENV, timeout=300
    )
    assert result.returncode == 0 and "examples:" in result.stdout
