"""Choice of the torch device (auto: CUDA, then MPS, then CPU; or named, in any case) and of
the number of CPU threads torch may use (never more than the cores this process may run on)."""

from __future__ import annotations

import torch

from .errors import InvalidSettingError, NSN2NError
from .resources import available_cores

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """Devices usable on this machine, best first (always ends with ``"cpu"``)."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    if mps_available():
        found.append("mps")
    return [*found, "cpu"]


def select_device(choice: str = "auto") -> torch.device:
    """Return the torch device for ``choice`` ("auto", "cpu", "cuda", "cuda:1", "mps")."""
    choice = (choice or "auto").strip().lower()
    if choice == "auto":
        return torch.device(available_devices()[0])
    kind = choice.split(":")[0]
    if kind not in DEVICE_CHOICES:
        raise InvalidSettingError(
            f"unknown device {choice!r}; choose one of {', '.join(DEVICE_CHOICES)}"
        )
    if kind == "cuda" and not torch.cuda.is_available():
        raise NSN2NError("device 'cuda' was asked for but CUDA is not available here")
    if kind == "mps" and not mps_available():
        raise NSN2NError("device 'mps' was asked for but MPS is not available here")
    return torch.device(choice)


def release_device_memory(device: torch.device) -> None:
    """Hand cached allocator memory back to the driver after a run."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


def thread_count(requested: int | None) -> int:
    """Threads to give torch for ``requested`` (None: every available core), clamped to
    ``resources.available_cores()``: more threads than cores only oversubscribe them, and very
    large counts crash the OpenMP runtime."""
    cores = available_cores()
    return cores if requested is None else max(1, min(int(requested), cores))


def set_torch_threads(requested: int | None) -> int:
    """Set torch's intra-op threads to ``thread_count(requested)``; returns the number set."""
    count = thread_count(requested)
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count
