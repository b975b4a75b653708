"""How to show a stack: the CT soft-tissue window and robust contrast limits (napari layers,
PNG figures and the samples use the same)."""

from __future__ import annotations

from typing import Any

import numpy as np

CT_WINDOW = (-160.0, 240.0)  # soft-tissue window: level 40 HU, width 400 HU
PERCENTILES = (0.5, 99.5)
SAMPLE_VALUES = 2_000_000  # values read (strided) to estimate the limits of a large stack


def display_range(data: Any, ct: bool = False) -> tuple[float, float] | None:
    """Contrast limits: ``CT_WINDOW`` for CT in HU that spans it (``ct``), else the 0.5-99.5
    percentiles of a strided sample. None for empty, constant or non-numeric data."""
    arr = np.asarray(data)
    if arr.size == 0 or arr.dtype.kind not in "biuf":
        return None
    step = max(1, round((arr.size / SAMPLE_VALUES) ** (1 / max(arr.ndim, 1))))
    sub = arr[tuple(slice(None, None, step) for _ in range(arr.ndim))]
    sub = sub[np.isfinite(sub)] if sub.dtype.kind == "f" else sub.ravel()
    if sub.size == 0:
        return None
    lo_all, hi_all = float(sub.min()), float(sub.max())
    if ct and lo_all < CT_WINDOW[0] and hi_all > CT_WINDOW[1]:
        return CT_WINDOW
    lo, hi = (float(v) for v in np.percentile(sub, PERCENTILES))
    if hi <= lo:
        lo, hi = lo_all, hi_all
    return None if hi <= lo else (lo, hi)
