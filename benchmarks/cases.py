"""The benchmark's cases: synthetic stacks with a clean reference, generated offline.

``TUNED``: the six phantoms the fitted defaults were chosen on (``napari_nsn2n.tuned``).
``HELD_OUT``: cases no rule was fitted on (other filters, doses, photon budgets and, where the
samples provide them, other anatomy); a default is checked on these before it is kept.
Every case is min-max scaled by the pipeline itself; metrics use the clean stack's range.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from napari_nsn2n import samples

SHAPE = (32, 128, 128)


@dataclass
class Case:
    name: str
    noisy: np.ndarray
    clean: np.ndarray
    sample_th: float
    paper_th: float
    inserts: np.ndarray | None = field(default=None, repr=False)  # labels of small structures
    tissues: np.ndarray | None = field(default=None, repr=False)  # host tissue labels


# The paper's th where it gives one (MRI: sec. 4.3; CT: the README's 0.01), else the sample's.
PAPER_TH = {"ct_ramp": 0.01, "ct_hann": 0.01, "mri5": 0.01, "mri7": 0.03, "mri9": 0.05}

TUNED: dict[str, Callable[..., samples.SampleStack]] = dict(samples.TUNED)
HELD_OUT: dict[str, Callable[..., samples.SampleStack]] = {
    "ct_cosine": lambda shape: samples.ct_stack(shape, dose=5e4, filter_name="cosine"),
    "microscopy20": lambda shape: samples.microscopy_stack(shape, photons=20.0),
    **samples.HELD_OUT,
}
HELD_OUT_SHAPE = (32, 192, 192)  # the realistic samples: 128 px would make their lesions 1-2 px
CASES = {**TUNED, **HELD_OUT}


def load_case(name: str, shape: tuple[int, int, int] = SHAPE) -> Case:
    """The case ``name``, or ``name@ZxYxX`` at another shape (e.g. ``ct_ramp@48x256x256``)."""
    base, _, size = name.partition("@")
    if size:
        shape = tuple(int(n) for n in size.split("x"))
    if base not in CASES:
        raise SystemExit(f"unknown case {base!r}; choose from {', '.join(CASES)}")
    if not size and base in samples.HELD_OUT:
        shape = HELD_OUT_SHAPE
    stack = CASES[base](shape=shape)
    inserts, tissues = getattr(stack, "inserts", None), getattr(stack, "tissues", None)
    return Case(
        name,
        np.asarray(stack.noisy, np.float32),
        np.asarray(stack.clean, np.float32),
        float(stack.suggested_threshold),
        PAPER_TH.get(base, float(stack.suggested_threshold)),
        None if inserts is None else np.asarray(inserts),
        None if tissues is None else np.asarray(tissues),
    )
