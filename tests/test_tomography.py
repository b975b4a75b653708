"""The stack projector and FBP behind the abdominal CT sample, against known answers and
scikit-image's radon / iradon."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import iradon, radon

from napari_nsn2n.samples.tomography import FILTERS, ParallelBeam, simulate_ct

N, VIEWS = 96, 96


def phantom() -> np.ndarray:
    yy, xx = np.mgrid[:N, :N]
    image = np.zeros((N, N), np.float32)
    image[(yy - 40) ** 2 + (xx - 55) ** 2 < 18**2] = 1.0
    image[(yy - 62) ** 2 + (xx - 35) ** 2 < 6**2] = 2.0
    return image


@pytest.fixture(scope="module")
def beam() -> ParallelBeam:
    return ParallelBeam(N, VIEWS)


def test_line_integrals_of_a_centred_disk(beam: ParallelBeam) -> None:
    yy, xx = np.mgrid[:N, :N]
    radius = 20.0
    disk = (((yy - (N - 1) / 2) ** 2 + (xx - (N - 1) / 2) ** 2) <= radius**2).astype(np.float32)
    sinogram = beam.project(disk[None])[0]  # (views, bins)
    # every view of a centred disk is the same chord profile, 2 sqrt(R^2 - t^2), area pi R^2
    np.testing.assert_allclose(sinogram.sum(axis=1), disk.sum(), rtol=1e-4)
    assert sinogram.max(axis=1) == pytest.approx(np.full(VIEWS, 2 * radius), rel=0.03)
    assert sinogram.std(axis=0).max() < 0.6  # the same in every direction


@pytest.mark.parametrize("name", FILTERS)
def test_fbp_matches_iradon(beam: ParallelBeam, name: str) -> None:
    image = phantom()
    mine = beam.reconstruct(beam.project(np.stack([image, image.T])), name)
    theta = np.linspace(0.0, 180.0, VIEWS, endpoint=False)
    reference = iradon(radon(image, theta, circle=True), theta, filter_name=name, circle=True)
    inner = (slice(10, -10), slice(10, -10))
    assert np.abs(mine[0] - reference)[inner].mean() < 0.02
    assert np.abs(mine[1] - reference.T)[inner].mean() < 0.02  # slices are independent
    if name == "ramp":
        assert np.abs(mine[0] - image)[inner].mean() < 0.03


def test_simulated_noise_is_noise_only_and_falls_with_dose() -> None:
    hu = np.full((4, N, N), -1000.0, np.float32)
    yy, xx = np.mgrid[:N, :N]
    body = (yy - 47.5) ** 2 / 40**2 + (xx - 47.5) ** 2 / 44**2 <= 1
    hu[:, body] = 40.0
    interior = (yy - 47.5) ** 2 / 36**2 + (xx - 47.5) ** 2 / 40**2 <= 1  # off the blurred edge
    stds = []
    for dose in (1e4, 1e6):
        rng = np.random.default_rng(0)
        noisy, clean = simulate_ct(hu, 2.0, dose, "ramp", VIEWS, rng, 0.0192, 5.0)
        # the reference is the phantom's FBP (ringing of about 1 % of the 1040 HU skin step)
        assert np.abs(clean[:, interior] - 40).mean() < 15
        noise = noisy - clean
        assert abs(float(noise[:, body].mean())) < 0.2 * float(noise[:, body].std())
        stds.append(float(noise[:, body].std()))
    assert stds[1] < 0.2 * stds[0]  # 100x the photons, a tenth of the noise
    with pytest.raises(ValueError):
        ParallelBeam(N, 95)
