"""What this machine offers (cores, free memory) and where large arrays live: in memory, or in a
temporary file when they are big."""

from __future__ import annotations

import os
import tempfile

import numpy as np

SPILL_BYTES = 1 << 30  # arrays above 1 GiB go to a temporary memmap when spilling is allowed
LOAD_LIMIT_BYTES = 2 << 30  # lazy inputs are loaded whole only below this (and 1/4 of free RAM)


def allocate(shape: tuple[int, ...], dtype, spill: bool = False) -> np.ndarray:
    """An uninitialised array; a memmap on an anonymous temporary file (deleted when closed) if
    ``spill`` and it is larger than ``SPILL_BYTES``."""
    dtype = np.dtype(dtype)
    if spill and int(np.prod(shape)) * dtype.itemsize > SPILL_BYTES:
        return np.memmap(
            tempfile.TemporaryFile(prefix="nsn2n-"), dtype=dtype, mode="w+", shape=shape
        )
    return np.empty(shape, dtype=dtype)


def available_cores() -> int:
    """CPU cores this process may run on (its affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def available_memory() -> int:
    """Bytes of physical memory currently available (8 GiB if unknown)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 8 << 30


def fits_in_memory(shape: tuple[int, ...], itemsize: int = 4) -> bool:
    """Whether a float32 array of ``shape`` is small enough to load: at most ``LOAD_LIMIT_BYTES``
    and a quarter of the available memory."""
    size = int(np.prod(shape)) * itemsize
    return size <= min(LOAD_LIMIT_BYTES, available_memory() // 4)
