"""Shared fixtures: small synthetic stacks with known clean references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter


@pytest.fixture(autouse=True, scope="session")
def _few_torch_threads():
    """Two cores on CI: one torch thread per process avoids oversubscription with Qt/Xvfb."""
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


def correlated_noise_stack(
    shape=(12, 64, 64), sigma=0.08, blur=1.0, seed=0
) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy): smooth structures changing slowly along z, plus noise that is correlated
    within each slice (white noise blurred in-plane) and independent across slices."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]].astype(np.float32)
    clean = 0.5 + 0.25 * np.sin(x / 6 + z / 30) * np.cos(y / 8)
    clean += 0.2 * (np.hypot(y - shape[1] / 2, x - shape[2] / 2) < shape[1] / 4 + z / 4)
    noise = np.stack(
        [gaussian_filter(rng.standard_normal(shape[1:]), blur) for _ in range(shape[0])]
    )
    noise *= sigma / noise.std()
    return clean.astype(np.float32), (clean + noise).astype(np.float32)


def psnr(clean: np.ndarray, test: np.ndarray) -> float:
    data_range = float(clean.max() - clean.min())
    return float(10 * np.log10(data_range**2 / np.mean((clean - test) ** 2)))


@pytest.fixture
def noisy_stack():
    return correlated_noise_stack()
