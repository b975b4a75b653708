"""Where the work runs: a dask.distributed client for a cluster named in words.

``local[:N]`` starts a ``LocalCluster`` of N worker processes on this machine (default: one per
two cores; one GPU each where there are GPUs); ``tcp://HOST:PORT`` connects to a running
scheduler (an unreachable one fails within ``connect_timeout`` seconds); ``slurm[:N]``,
``pbs[:N]``, ``lsf[:N]``, ``sge[:N]`` start N batch jobs of one worker each through
dask-jobqueue, with the settings of a YAML file (``--cluster-config``): the keyword arguments of
its cluster class (``cores``, ``memory``, ``walltime``, ``queue``, ``account``,
``job_extra_directives``...), or dask-jobqueue's own configuration layout (``jobqueue: slurm:
...``). ``gpus: G`` there asks each job for G GPUs (``--gres=gpu:G`` on SLURM) and declares them
as the worker resource ``GPU`` that a volume's task asks for.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import NSN2NError
from ..resources import available_cores

JOBQUEUE_CLASSES = {
    "slurm": "SLURMCluster",
    "pbs": "PBSCluster",
    "lsf": "LSFCluster",
    "sge": "SGECluster",
}
GPU_DIRECTIVES = {"slurm": "--gres=gpu:{}", "pbs": "-l ngpus={}", "lsf": "-gpu num={}"}
CONNECT_TIMEOUT_S = 10.0
_INSTALL = 'pip install "napari-nsn2n[distributed]"'


class ClusterError(NSN2NError):
    """A cluster cannot be started or reached, or its settings are wrong."""


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ClusterError(f"cluster runs need dask.distributed ({_INSTALL})") from None
    return distributed


def parse_spec(spec: str) -> tuple[str, int | None]:
    """``"local:4"`` -> ("local", 4); ``"slurm"`` -> ("slurm", None); a tcp:// address as is."""
    text = spec.strip()
    if "://" in text:
        return text, None
    kind, _, count = text.partition(":")
    kind = kind.lower()
    if kind != "local" and kind not in JOBQUEUE_CLASSES:
        raise ClusterError(
            f"unknown cluster {spec!r}: use local[:N], tcp://HOST:PORT or "
            f"{'[:N], '.join(JOBQUEUE_CLASSES)}[:N]"
        )
    if not count:
        return kind, None
    if not count.isdigit() or int(count) < 1:
        raise ClusterError(f"cluster {spec!r}: N must be a whole number >= 1")
    return kind, int(count)


def load_cluster_config(path: str | os.PathLike | None, kind: str) -> dict[str, Any]:
    """The settings of a YAML file: a mapping of cluster keyword arguments, or dask-jobqueue's
    ``jobqueue: {kind: {...}}`` layout."""
    if path is None:
        return {}
    import yaml

    try:
        settings = yaml.safe_load(Path(path).expanduser().read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ClusterError(f"cannot read cluster config {path}: {exc}") from None
    if not isinstance(settings, dict):
        raise ClusterError(f"cluster config {path} must be a mapping of settings")
    if isinstance(settings.get("jobqueue"), dict):
        settings = settings["jobqueue"].get(kind, {}) or {}
    return dict(settings)


def local_gpus() -> int:
    """CUDA devices on this machine (0 without torch's CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def local_cluster_kwargs(workers: int | None, settings: dict[str, Any]) -> dict[str, Any]:
    """``LocalCluster`` keywords: N worker processes sharing the cores (one thread each at
    least), the dashboard off unless asked, one GPU each where there are GPUs."""
    gpus = local_gpus()
    n = workers or max(1, gpus or available_cores() // 2)
    kwargs: dict[str, Any] = {
        "n_workers": n,
        "threads_per_worker": max(1, available_cores() // n),
        "processes": True,
        "dashboard_address": None,
    }
    if gpus:
        kwargs["resources"] = {"GPU": 1}
    kwargs.update(settings)
    return kwargs


def jobqueue_cluster(kind: str, settings: dict[str, Any]) -> Any:
    """A dask-jobqueue cluster of ``kind`` (no job submitted yet) with ``settings``; ``gpus``
    adds the batch system's GPU request and the worker resource ``GPU``."""
    try:
        import dask_jobqueue
    except ImportError:
        raise ClusterError(f"{kind} clusters need dask-jobqueue ({_INSTALL})") from None
    settings = dict(settings)
    gpus = int(settings.pop("gpus", 0) or 0)
    if gpus:
        directive = GPU_DIRECTIVES.get(kind)
        if directive is not None:
            extra = list(settings.get("job_extra_directives") or [])
            settings["job_extra_directives"] = [*extra, directive.format(gpus)]
        args = list(settings.get("worker_extra_args") or [])
        settings["worker_extra_args"] = [*args, "--resources", f"GPU={gpus}"]
    cls = getattr(dask_jobqueue, JOBQUEUE_CLASSES[kind])
    try:
        return cls(**settings)
    except (TypeError, ValueError) as exc:
        raise ClusterError(f"{kind} cluster settings: {exc}") from None


@contextlib.contextmanager
def open_client(
    spec: str,
    config: str | os.PathLike | None = None,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    jobs: int | None = None,
) -> Iterator[Any]:
    """A ``distributed.Client`` for ``spec``; a cluster started here is closed on exit.

    ``jobs``: how many batch jobs a jobqueue cluster starts when ``spec`` names none.
    """
    distributed = _distributed()
    kind, count = parse_spec(spec)
    settings = load_cluster_config(config, kind)
    if "://" in kind:
        try:
            client = distributed.Client(kind, timeout=f"{connect_timeout}s")
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"cannot reach the dask scheduler at {kind} within {connect_timeout:g} s "
                f"({type(exc).__name__}); is it running, and is the address right?"
            ) from None
        with client:
            yield client
        return
    if kind == "local":
        cluster = distributed.LocalCluster(**local_cluster_kwargs(count, settings))
    else:
        cluster = jobqueue_cluster(kind, settings)
        cluster.scale(jobs=count or jobs or 1)
    with cluster, distributed.Client(cluster) as client:
        yield client
