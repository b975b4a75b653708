"""Scores of a denoised stack against its clean reference, per slice and summarised."""

from __future__ import annotations

import math

import numpy as np


def foreground(clean: np.ndarray) -> np.ndarray:
    """Pixels above 10 % of the clean stack's range (the object, not the background)."""
    lo, hi = float(clean.min()), float(clean.max())
    return clean > lo + 0.1 * (hi - lo)


def slice_metrics(clean: np.ndarray, test: np.ndarray) -> dict[str, np.ndarray]:
    """Per-slice PSNR / SSIM, whole and foreground; data range = the clean stack's range."""
    from skimage.metrics import structural_similarity

    clean = clean.astype(np.float64)
    test = test.astype(np.float64)
    rng = float(clean.max() - clean.min())
    fg = foreground(clean)
    out: dict[str, list[float]] = {"psnr": [], "psnr_fg": [], "ssim": [], "ssim_fg": []}
    for c, t, m in zip(clean, test, fg, strict=True):
        err = (c - t) ** 2
        out["psnr"].append(10 * math.log10(rng**2 / max(err.mean(), 1e-20)))
        out["psnr_fg"].append(
            10 * math.log10(rng**2 / max(err[m].mean(), 1e-20)) if m.any() else float("nan")
        )
        ssim, smap = structural_similarity(c, t, data_range=rng, full=True)
        out["ssim"].append(float(ssim))
        out["ssim_fg"].append(float(smap[m].mean()) if m.any() else float("nan"))
    return {k: np.asarray(v) for k, v in out.items()}


def summary(
    clean: np.ndarray,
    test: np.ndarray,
    inserts: np.ndarray | None = None,
    tissues: np.ndarray | None = None,
) -> dict:
    """Mean over slices of each metric (SSIM in %), the edge gain (``metrics.edge_gain``) and,
    where the case labels its small structures, their recovered contrast
    (``metrics.insert_contrast``: median, minimum, and the fraction keeping >= 90 %)."""
    from napari_nsn2n import metrics

    per_slice = slice_metrics(clean, test)
    row = {}
    for key, values in per_slice.items():
        values = values[np.isfinite(values)]
        scale = 100.0 if key.startswith("ssim") else 1.0
        row[key] = round(float(values.mean()) * scale, 3)
    row["edge_gain"] = round(float(metrics.edge_gain(clean, test)), 3)
    if inserts is not None and np.any(inserts):
        recovered = np.array(
            [c.recovered for c in metrics.insert_contrast(clean, test, inserts, tissues)]
        )
        recovered = recovered[np.isfinite(recovered)]
        if recovered.size:
            row["insert_median"] = round(float(np.median(recovered)), 3)
            row["insert_min"] = round(float(recovered.min()), 3)
            row["insert_kept90"] = round(float(np.mean(recovered >= 0.9)), 3)
    return row
