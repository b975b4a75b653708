"""Denoising a whole stack with a trained network, in batches, optionally with test-time augmentation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..tuned import CPU_INFERENCE_BATCH, DEVICE_INFERENCE_BATCH
from .dihedral import DIHEDRAL, transform, undo


def default_batch_size(device: torch.device) -> int:
    """Slices per forward pass: ``CPU_INFERENCE_BATCH`` on a CPU (measured faster than larger
    batches there), ``DEVICE_INFERENCE_BATCH`` elsewhere."""
    return CPU_INFERENCE_BATCH if device.type == "cpu" else DEVICE_INFERENCE_BATCH


@torch.no_grad()
def predict_slices(
    model: torch.nn.Module,
    slices: np.ndarray,
    device: torch.device,
    batch_size: int | None = None,
    tta: bool = False,
    amp_dtype: torch.dtype | None = None,
    out: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """f_theta applied to every slice of a normalised (M, H, W) stack (a memmap is read in batches).

    ``tta`` averages the outputs over the 8 flips/rotations (8x the cost). ``out`` may be a
    preallocated array or memmap (M, H, W) that receives the result.
    """
    model.eval()
    batch_size = batch_size or default_batch_size(device)
    total = len(slices)
    if out is None:
        out = np.empty(np.shape(slices), dtype=np.float32)
    transforms = DIHEDRAL if tta else DIHEDRAL[:1]
    for first in range(0, total, batch_size):
        block = np.ascontiguousarray(slices[first : first + batch_size], dtype=np.float32)
        x = torch.from_numpy(block).unsqueeze(1).to(device)
        acc = torch.zeros_like(x, dtype=torch.float32)
        for turns, flip in transforms:
            with torch.autocast(device.type, amp_dtype, enabled=amp_dtype is not None):
                y = model(transform(x, turns, flip))
            acc += undo(y.float(), turns, flip)
        out[first : first + len(block)] = (acc / len(transforms))[:, 0].cpu().numpy()
        if progress is not None:
            progress(min(first + batch_size, total), total)
    return out
