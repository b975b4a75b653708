"""Low-dose abdominal CT of the abdomen phantom: parallel-beam projections, Poisson counts with
electronic noise, log and filtered back-projection (``tomography.simulate_ct``), in HU."""

from __future__ import annotations

import numpy as np

from ..tuned import ABDOMEN_CT_THRESHOLD
from .abdomen import abdomen_phantom
from .base import LICENCE, SampleStack
from .tomography import FILTERS, simulate_ct

MU_WATER_PER_MM = 0.0192  # linear attenuation of water at ~70 keV, 1/mm
ELECTRONIC_NOISE = 8.0  # counts (rms) added to every detector reading


def abdomen_ct_stack(
    shape: tuple[int, int, int] = (40, 256, 256),
    dose: float = 3e5,
    filter_name: str = "shepp-logan",
    seed: int = 0,
    views: int | None = None,
) -> SampleStack:
    """Low-dose CT of an upper-abdomen slab (liver dome to kidneys), 2.5 mm slices, in HU.

    ``dose``: photons per detector reading before the patient; ``views``: angles over 180 degrees
    (default: one per pixel column, even). ``clean`` is the FBP of the noiseless projections with
    the same filter, so ``noisy - clean`` is noise only (correlated within slices, independent
    across them). ``inserts`` labels the small lesions and vessels (names in ``insert_names``),
    ``tissues`` the anatomy (names in ``tissue_names``).
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or shape[1] != shape[2] or min(shape) < 1:
        raise ValueError(f"abdomen_ct_stack needs (Z, N, N) with square slices, got {shape}")
    if dose <= 0:
        raise ValueError("dose must be > 0")
    if filter_name not in FILTERS:
        raise ValueError(f"filter_name must be one of {FILTERS}, got {filter_name!r}")
    phantom = abdomen_phantom(shape, seed)
    count = int(views) if views else shape[2] + shape[2] % 2
    rng = np.random.default_rng(np.random.SeedSequence([seed, 18]))
    pixel = phantom.grid.spacing[1]
    noisy, clean = simulate_ct(
        phantom.values, pixel, dose, filter_name, count, rng, MU_WATER_PER_MM, ELECTRONIC_NOISE
    )
    dz, dy, _ = phantom.grid.spacing
    description = (
        f"Synthetic low-dose abdominal CT (portal-venous phase), upper-abdomen slab of {shape[0]} "
        f"slices at {dz:g} mm, {dy:.2f} mm pixels: body wall, fat, muscles, spine, ribs, lung "
        f"bases, liver with vein trees, gallbladder, spleen, stomach, pancreas, kidneys, adrenals, "
        f"aorta and its branches, portal and mesenteric veins, colon and small bowel, and "
        f"{len(phantom.insert_names)} small inserts (lesions of 2-14 mm, small vessels, "
        f"calcifications). Projected in parallel beam over {count} views, Poisson counts with "
        f"{dose:g} photons per reading and {ELECTRONIC_NOISE:g} counts electronic noise, log, "
        f"filtered back-projection ({filter_name} filter). The reference is the FBP of the "
        f"noiseless projections with the same filter. {LICENCE}"
    )
    return SampleStack(
        noisy=noisy,
        clean=clean,
        spacing=phantom.grid.spacing,
        name=f"Abdominal CT (low-dose, FBP {filter_name})",
        description=description,
        units="HU",
        suggested_threshold=ABDOMEN_CT_THRESHOLD,
        inserts=phantom.inserts,
        insert_names=tuple(phantom.insert_names),
        tissues=phantom.tissues,
        tissue_names=phantom.tissue_names,
    )
