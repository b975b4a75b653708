"""Outputs are whole or absent, never replace what they may not, and say plainly why they failed:
real concurrent processes, real signals, a real full file system where one can be mounted."""

from __future__ import annotations

import errno
import multiprocessing
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from napari_nsn2n import TrainConfig
from napari_nsn2n.errors import ModelFormatError, OutputError
from napari_nsn2n.io import check_outputs, read_volume, write_volume
from napari_nsn2n.io.volume import is_partial
from napari_nsn2n.method.unet import build_unet
from napari_nsn2n.models import ModelBundle, load_model, save_model
from napari_nsn2n.stack import Normalizer

SMALL = TrainConfig(base_channels=4, depth=2, device="cpu")


def _bundle(config: TrainConfig = SMALL, low: float = 0.0, high: float = 1.0) -> ModelBundle:
    state = {k: v.clone() for k, v in build_unet(config).state_dict().items()}
    return ModelBundle(state, config, Normalizer(low, high, "float32"))


def _race(path: str, value: float, barrier, results) -> None:
    """One competitor: wait for the others, then write ``value`` without overwrite."""
    barrier.wait()
    try:
        write_volume(path, np.full((2, 8, 8), value, np.float32))
        results.put(("won", value))
    except OutputError as exc:
        results.put(("refused", str(exc)))


@pytest.mark.parametrize("suffix", [".npy", ".nii.gz"])
def test_concurrent_writers_without_overwrite_never_replace_each_other(tmp_path, suffix):
    """Several processes released at once onto one new path: exactly one result lands and it is
    whole; the others are refused (os.replace let every one of them 'succeed')."""
    ctx = multiprocessing.get_context("spawn")
    competitors = 3
    for round_ in range(2):
        path = tmp_path / f"out{round_}{suffix}"
        barrier, results = ctx.Barrier(competitors), ctx.Queue()
        procs = [
            ctx.Process(target=_race, args=(str(path), float(k + 1), barrier, results))
            for k in range(competitors)
        ]
        for proc in procs:
            proc.start()
        outcomes = [results.get(timeout=120) for _ in procs]
        for proc in procs:
            proc.join(timeout=60)
        winners = [value for kind, value in outcomes if kind == "won"]
        assert len(winners) == 1, outcomes
        refusals = [text for kind, text in outcomes if kind == "refused"]
        assert all("exists" in t or "another process" in t for t in refusals), refusals
        np.testing.assert_array_equal(read_volume(path).data, np.full((2, 8, 8), winners[0]))
        assert not [p for p in tmp_path.iterdir() if is_partial(p)]


def test_overwrite_replaces_in_one_step_and_a_failed_write_keeps_the_old_file(tmp_path):
    out = tmp_path / "out.nii.gz"
    write_volume(out, np.zeros((2, 8, 8), np.float32))
    write_volume(out, np.ones((2, 8, 8), np.float32), overwrite=True)
    np.testing.assert_array_equal(read_volume(out).data, 1)
    with pytest.raises(OutputError, match="use --overwrite to replace it"):
        write_volume(out, np.ones((2, 8, 8)), hint="--overwrite")


def test_temporaries_match_no_output_glob(tmp_path):
    """A SIGKILL can leave a temporary; it must never pass for an output."""
    from napari_nsn2n.io.atomic import atomic_output

    for name in ("scan.nii.gz", "scan.tif", "scan.npy", "model.pt"):
        folder = tmp_path / name.replace(".", "_")
        folder.mkdir()
        with atomic_output(folder / name) as tmp:
            assert tmp.name.startswith(".") and tmp.name.endswith(".partial") and is_partial(tmp)
            for pattern in ("*.nii.gz", "*.nii*", "*.tif*", "*.npy", "*.pt", "scan*", "*.gz"):
                assert not list(folder.glob(pattern)), (name, pattern)
            tmp.write_bytes(b"x")
        assert (folder / name).read_bytes() == b"x"


_SIGNAL_WRITER = """
import sys, numpy as np
from napari_nsn2n.cli.signals import termination_as_exception, Terminated
from napari_nsn2n.io import write_volume
data = np.random.default_rng(0).random((48, 512, 512)).astype(np.float32)
try:
    with termination_as_exception():
        write_volume(sys.argv[1], data)
except Terminated as exc:
    sys.exit(exc.exit_code)
"""


def _signal_during_write(tmp_path, signum: int) -> tuple[int, list[str]]:
    """Start a process writing a large .nii.gz, send ``signum`` once its temporary exists."""
    out = tmp_path / "big.nii.gz"
    proc = subprocess.Popen([sys.executable, "-c", _SIGNAL_WRITER, str(out)])
    deadline = time.monotonic() + 120
    while not any(is_partial(p) for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "the write never started"
        time.sleep(0.005)
    time.sleep(0.05)
    proc.send_signal(signum)
    code = proc.wait(timeout=120)
    return code, sorted(p.name for p in tmp_path.iterdir())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_termination_signal_during_a_write_leaves_nothing_behind(tmp_path, signum):
    code, left = _signal_during_write(tmp_path, signum)
    assert code == 128 + signum
    assert left == []  # neither the output nor its temporary


def test_sigkill_during_a_write_leaves_only_a_named_temporary(tmp_path):
    code, left = _signal_during_write(tmp_path, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert len(left) == 1 and is_partial(tmp_path / left[0])
    assert not list(tmp_path.glob("*.nii.gz"))


def test_collisions_are_all_named_before_any_work(tmp_path):
    a, b = tmp_path / "a" / "scan.nii.gz", tmp_path / "b" / "scan.nii.gz"
    with pytest.raises(OutputError) as info:
        check_outputs(
            [a, b, tmp_path / "keep.tif"],
            [tmp_path / "o" / "scan.nii.gz", tmp_path / "o" / "scan.nii.gz", tmp_path / "keep.tif"],
            ["a/scan.nii.gz", "b/scan.nii.gz", "keep.tif"],
        )
    message = str(info.value)
    assert "written twice (from a/scan.nii.gz and b/scan.nii.gz)" in message
    assert "keep.tif is an input" in message
    src = tmp_path / "linked.npy"
    np.save(src, np.zeros(3))
    os.link(src, tmp_path / "alias.npy")
    with pytest.raises(OutputError, match="is an input"):
        check_outputs([src], [tmp_path / "alias.npy"])  # one file under two names
    check_outputs([src], [tmp_path / "other.npy"])


def _can_mount_tmpfs(folder: pathlib.Path) -> bool:
    if os.geteuid() != 0:
        return False
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], capture_output=True
    )
    return result.returncode == 0


def test_a_full_disk_is_said_plainly_and_leaves_no_partial_file(tmp_path):
    """A real 256 KiB tmpfs: the volume fits, the model (about 100 KiB of weights each) soon
    does not."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if not _can_mount_tmpfs(disk):
        pytest.skip("mounting a tmpfs needs root here")
    try:
        write_volume(disk / "small.npy", np.zeros((2, 8, 8), np.float32))
        wide = TrainConfig(base_channels=32, depth=2, device="cpu")
        with pytest.raises(OutputError, match="no space left on device") as info:
            for k in range(8):
                save_model(_bundle(wide), disk / f"model{k}.pt")
        assert "\n" not in str(info.value)
        assert not [p for p in disk.iterdir() if is_partial(p)]
        assert all(load_model(p) for p in disk.glob("*.pt"))  # the ones written are whole
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_write_fault_mid_file_is_said_plainly_and_cleaned_up(tmp_path, monkeypatch):
    """The same with the fault injected at write time, where no tmpfs can be mounted."""
    real = pathlib.Path.write_bytes

    def full_disk(self, data):
        real(self, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "write_bytes", full_disk)
    with pytest.raises(OutputError, match=r"cannot write model .*: no space left on device"):
        save_model(_bundle(), tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []


def test_models_that_cannot_be_used_are_one_line_at_load(tmp_path):
    wrong = _bundle()
    wrong.state = {**wrong.state, "head.weight": torch.zeros(1, 99, 1, 1)}
    save_model(wrong, tmp_path / "shapes.pt")
    with pytest.raises(ModelFormatError, match="do not match its settings") as info:
        load_model(tmp_path / "shapes.pt")
    assert "head.weight: (1, 99, 1, 1) stored, (1, 4, 1, 1) expected" in str(info.value)
    assert "\n" not in str(info.value)
    save_model(_bundle(low=5.0, high=5.0), tmp_path / "flat.pt")
    with pytest.raises(ModelFormatError, match="degenerate normalisation"):
        load_model(tmp_path / "flat.pt")
    broken = _bundle()
    broken.state = {k: v.fill_(float("nan")) for k, v in broken.state.items()}
    save_model(broken, tmp_path / "nan.pt")
    with pytest.raises(ModelFormatError, match="NaN or Inf weights"):
        load_model(tmp_path / "nan.pt")
    payload = torch.load(tmp_path / "flat.pt", weights_only=True)
    payload["config"]["epoch"] = 3  # a key this version does not know
    torch.save(payload, tmp_path / "typo.pt")
    with pytest.raises(ModelFormatError, match="unknown training setting 'epoch'"):
        load_model(tmp_path / "typo.pt")
