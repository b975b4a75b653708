"""Beyond one process, on dask.distributed: cohorts of volumes (:func:`denoise_many`, one task
per volume), chunked inference of one stack larger than memory into OME-Zarr
(:func:`denoise_blocks`), and the clusters they run on (:func:`open_client`: LocalCluster, a
tcp:// scheduler, SLURM / PBS / LSF / SGE through dask-jobqueue). Needs the ``distributed``
extra; nothing here is imported by the engine itself."""

from .cluster import ClusterError, open_client
from .cohort import denoise_many, plan_cohort
from .events import (
    CohortEvent,
    CohortFinished,
    CohortProgress,
    CohortStarted,
    VolumeEnded,
    VolumeStarted,
)
from .report import VolumeRecord, read_report
from .worker import VolumeJob, denoise_volume

__all__ = [
    "ClusterError",
    "CohortEvent",
    "CohortFinished",
    "CohortProgress",
    "CohortStarted",
    "VolumeEnded",
    "VolumeJob",
    "VolumeRecord",
    "VolumeStarted",
    "denoise_many",
    "denoise_volume",
    "open_client",
    "plan_cohort",
    "read_report",
]
