"""Cohorts and chunked inference on a real dask.distributed LocalCluster (2 worker processes, 1
thread each, no dashboard), the CLI on it, an unreachable scheduler, a killed worker, and the
SLURM job script dask-jobqueue would submit (nothing is submitted)."""

from __future__ import annotations

import csv
import os
import signal
import socket
import sys
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
pytest.importorskip("ome_zarr")

from conftest import correlated_noise_stack  # noqa: E402
from napari_nsn2n.cli.main import main  # noqa: E402
from napari_nsn2n.config import TrainConfig  # noqa: E402
from napari_nsn2n.distributed import (  # noqa: E402
    CohortFinished,
    CohortProgress,
    CohortStarted,
    VolumeEnded,
    VolumeStarted,
    denoise_many,
)
from napari_nsn2n.errors import OutputError  # noqa: E402
from napari_nsn2n.io import Volume, read_volume, write_volume  # noqa: E402

TINY = TrainConfig(epochs=1, base_channels=8, depth=2, patch_size=32, batch_size=4, num_threads=1)
TINY_ARGS = ["--epochs", "1", "--min-steps", "0", "--patch-size", "32", "--threads", "1", "-q"]


@pytest.fixture(scope="module")
def client(request):
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster)

    def close() -> None:
        client.close()
        cluster.close()

    request.addfinalizer(close)
    return client


def _cohort(folder, n=3, shape=(6, 48, 48)):
    """``n`` small noisy stacks (.npy), a corrupt file and a constant stack."""
    folder.mkdir()
    paths = []
    for k in range(n):
        path = folder / f"vol{k}.npy"
        np.save(path, correlated_noise_stack(shape, seed=k)[1])
        paths.append(str(path))
    (folder / "corrupt.npy").write_bytes(b"\x93NUMPY garbage")
    np.save(folder / "constant.npy", np.full(shape, 7.0, np.float32))
    return [*paths, str(folder / "corrupt.npy"), str(folder / "constant.npy")]


def _rows(path):
    with open(path, newline="") as f:
        return {os.path.basename(r["input"]): r for r in csv.DictReader(f)}


def test_cohort_end_to_end_report_and_resume(client, tmp_path):
    inputs = _cohort(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    events = list(denoise_many(inputs, out, client, config=TINY))
    assert isinstance(events[0], CohortStarted) and events[0].to_run == 5
    assert events[0].workers == 2
    finished = events[-1]
    assert isinstance(finished, CohortFinished)
    assert (finished.done, finished.failed, finished.skipped) == (3, 2, 0)
    assert {e.input for e in events if isinstance(e, VolumeStarted)} <= set(inputs)
    progress = [e for e in events if isinstance(e, CohortProgress)]
    assert progress[-1].done == 3 and progress[-1].failed == 2 and progress[-1].running == 0
    rows = _rows(out / "nsn2n-report.csv")
    assert set(rows) == {"vol0.npy", "vol1.npy", "vol2.npy", "corrupt.npy", "constant.npy"}
    for k in range(3):
        row = rows[f"vol{k}.npy"]
        assert row["status"] == "done" and row["device"] == "cpu" and row["error"] == ""
        assert 0 < float(row["threshold"]) < 1 and int(row["steps"]) >= 1
        assert float(row["seconds"]) > 0 and row["worker"].startswith("tcp://")
        result = read_volume(row["output"]).data
        assert result.shape == (6, 48, 48) and np.isfinite(result).all()
    assert rows["corrupt.npy"]["status"] == "failed"
    assert "cannot read" in rows["corrupt.npy"]["error"]
    assert rows["constant.npy"]["status"] == "failed"
    assert "constant" in rows["constant.npy"]["error"].lower()
    assert sorted(p.name for p in out.iterdir()) == [
        "nsn2n-report.csv",
        "vol0_denoised.npy",
        "vol1_denoised.npy",
        "vol2_denoised.npy",
    ]

    # resume: one output removed; the failed ones are retried, the done ones skipped
    kept = (out / "vol0_denoised.npy").stat().st_mtime_ns
    (out / "vol1_denoised.npy").unlink()
    again = list(denoise_many(inputs, out, client, config=TINY))
    assert (again[0].to_run, again[0].skipped) == (3, 2)
    ran = {os.path.basename(e.record.input) for e in again if isinstance(e, VolumeEnded)}
    assert ran == {"vol1.npy", "corrupt.npy", "constant.npy"}
    assert (out / "vol0_denoised.npy").stat().st_mtime_ns == kept
    rows = _rows(out / "nsn2n-report.csv")
    assert [rows[f"vol{k}.npy"]["status"] for k in range(3)] == ["done"] * 3
    assert rows["vol0.npy"]["worker"].startswith("tcp://")  # the earlier row is kept
    assert again[-1].failed == 2


def test_outputs_that_collide_are_refused_before_any_work(client, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for sub in ("a", "b"):
        np.save(tmp_path / sub / "scan.npy", np.zeros((4, 32, 32), np.float32))
    with pytest.raises(OutputError, match="would both be written"):
        next(denoise_many([tmp_path / "a/scan.npy", tmp_path / "b/scan.npy"], tmp_path, client))


def test_cli_cohort_on_a_running_scheduler_exits_1_when_a_volume_fails(client, tmp_path, capsys):
    inputs = _cohort(tmp_path / "in", n=1)[:2]  # one good, one corrupt
    out = tmp_path / "out"
    args = ["denoise", *inputs, "-o", f"{out}/", "--cluster", client.scheduler.address]
    assert main(args + TINY_ARGS) == 1
    err = capsys.readouterr().err
    assert "FAILED" in err and "corrupt.npy" in err and "1 done, 1 failed" in err
    rows = _rows(out / "nsn2n-report.csv")
    assert rows["vol0.npy"]["status"] == "done" and rows["corrupt.npy"]["status"] == "failed"
    assert main(args + TINY_ARGS) == 1  # resumed: the good one is skipped
    assert "1 skipped" in capsys.readouterr().err


def test_an_unreachable_scheduler_fails_within_seconds(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    np.save(tmp_path / "a.npy", np.zeros((4, 32, 32), np.float32))
    started = time.perf_counter()
    args = ["denoise", str(tmp_path / "a.npy"), "-o", f"{tmp_path}/", "--cluster"]
    code = main([*args, f"tcp://127.0.0.1:{port}", "--connect-timeout", "2"])
    assert code == 1 and time.perf_counter() - started < 20
    assert f"cannot reach the dask scheduler at tcp://127.0.0.1:{port}" in capsys.readouterr().err


def test_chunked_inference_equals_the_in_process_result(client, tmp_path):
    from napari_nsn2n.distributed.blocks import denoise_blocks
    from napari_nsn2n.pipeline import apply_model, denoise

    _, noisy = correlated_noise_stack((10, 96, 160))
    source = tmp_path / "big.ome.zarr"
    write_volume(source, Volume(noisy, "ZYX", (2.0, 0.5, 0.5), metadata={"unit": "µm"}))
    _, bundle = denoise(noisy, config=TINY, return_model=True)
    expected = apply_model(bundle, noisy)
    slabs = list(denoise_blocks(bundle, source, tmp_path / "slabs.ome.zarr", client, slab=4))
    assert slabs[-1].denoised.shape == noisy.shape
    np.testing.assert_allclose(
        read_volume(tmp_path / "slabs.ome.zarr").data[:], expected, atol=1e-5
    )
    # in-plane tiles of 64 px with the receptive-field overlap: the same result
    list(denoise_blocks(bundle, source, tmp_path / "tiles.ome.zarr", client, slab=5, tile=64))
    tiles = read_volume(tmp_path / "tiles.ome.zarr")
    np.testing.assert_allclose(tiles.data[:], expected, atol=1e-5)
    assert tiles.spacing == (2.0, 0.5, 0.5) and tiles.metadata["unit"] == "µm"
    # ... which is what the overlap buys: without it the tile borders differ
    list(
        denoise_blocks(
            bundle, source, tmp_path / "bare.ome.zarr", client, slab=10, tile=64, overlap=0
        )
    )
    assert np.abs(read_volume(tmp_path / "bare.ome.zarr").data[:] - expected).max() > 1e-4


def test_cli_one_huge_stack_trains_here_and_denoises_on_the_cluster(client, tmp_path):
    _, noisy = correlated_noise_stack((8, 128, 128))
    source = tmp_path / "stack.ome.zarr"
    write_volume(source, Volume(noisy, "ZYX", (3.0, 0.4, 0.4), metadata={"unit": "µm"}))
    model = tmp_path / "m.pt"
    out = tmp_path / "out.ome.zarr"
    args = ["denoise", str(source), "-o", str(out), "--cluster", client.scheduler.address]
    assert main([*args, "--save-model", str(model), *TINY_ARGS]) == 0
    result = read_volume(out)
    assert result.spacing == (3.0, 0.4, 0.4) and len(result.metadata["ome_zarr"]["levels"]) == 2
    from napari_nsn2n.models import load_model
    from napari_nsn2n.pipeline import apply_model

    np.testing.assert_allclose(result.data[:], apply_model(load_model(model), noisy), atol=1e-5)


def test_slurm_job_script_carries_cores_memory_and_gpus(tmp_path):
    pytest.importorskip("dask_jobqueue")
    from napari_nsn2n.distributed.cluster import jobqueue_cluster, load_cluster_config

    config = tmp_path / "slurm.yaml"
    config.write_text(
        "jobqueue:\n  slurm:\n    cores: 8\n    memory: 32GB\n    processes: 1\n"
        "    walltime: '02:00:00'\n    queue: gpu\n    account: lab42\n    gpus: 2\n"
        "    scheduler_options: {dashboard_address: '127.0.0.1:0', host: 127.0.0.1}\n"
    )
    cluster = jobqueue_cluster("slurm", load_cluster_config(config, "slurm"))
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    lines = script.splitlines()
    for directive in ("--cpus-per-task=8", "--mem=30G", "-t 02:00:00", "-p gpu", "-A lab42"):
        assert f"#SBATCH {directive}" in lines
    assert "#SBATCH --gres=gpu:2" in lines
    assert "--resources GPU=2" in script and "--nthreads 8" in script
    assert sys.executable in script  # the workers run this environment's Python


def test_a_killed_worker_loses_no_volume(client, tmp_path):
    inputs = _cohort(tmp_path / "in", n=2, shape=(8, 64, 64))[:2]
    out = tmp_path / "out"
    out.mkdir()
    pids = client.run(os.getpid)
    config = TrainConfig(epochs=8, base_channels=8, depth=2, patch_size=32, batch_size=4)
    killed, where = None, None
    events = []
    for event in denoise_many(inputs, out, client, config=config):
        events.append(event)
        if isinstance(event, VolumeStarted) and killed is None:
            killed, where = os.path.basename(event.input), event.worker
            os.kill(pids[where], signal.SIGKILL)
    assert killed is not None
    assert events[-1].done == 2 and events[-1].failed == 0
    rows = _rows(out / "nsn2n-report.csv")
    assert all(r["status"] == "done" for r in rows.values())
    assert rows[killed]["worker"] != where  # it ran again, on another (or a restarted) worker
    for row in rows.values():
        assert read_volume(row["output"]).data.shape == (8, 64, 64)
    assert sorted(p.name for p in out.iterdir()) == [
        "nsn2n-report.csv",
        "vol0_denoised.npy",
        "vol1_denoised.npy",
    ]  # nothing partial, hidden or not
    client.wait_for_workers(2, timeout=120)  # the nanny restarted it


def test_the_engine_and_cli_load_no_dask_or_zarr_until_asked():
    """Start-up stays light: distributed, zarr and ome-zarr load only for a cluster or a .zarr."""
    import subprocess

    code = (
        "import sys; from napari_nsn2n.cli.main import build_parser; build_parser(); "
        "import napari_nsn2n.io, napari_nsn2n.pipeline; "
        "print(sorted(m for m in ('distributed', 'zarr', 'ome_zarr') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
