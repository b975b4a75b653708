"""How a stack is scaled for a model that was trained on another stack.

A model maps the [0, 1] scale of its training stack. A stack in the same units (another CT in
HU) is best scaled like the training stack; a stack in other units (an MRI for a CT model) must
be scaled by its own min / max, or every value lands outside what the network saw. "auto"
decides from the robust intensity ranges of both stacks (the training stack's is kept in the
model's meta by ``pipeline.run``).
"""

from __future__ import annotations

from typing import Any

from ...models import ModelBundle
from ...pipeline.run import intensity_range
from ...stack import SliceLayout

SCALINGS = ("auto", "training stack's", "this stack's")
# ranges overlapping less than this (intersection over union) count as other units; a heuristic:
# the same modality at another dose or contrast overlaps far more, another modality far less
SAME_UNITS_OVERLAP = 0.5


class LayerSlices:
    """The slices of a layer's data along a slice axis, read one at a time (for
    ``intensity_range``)."""

    def __init__(self, data: Any, axis: int) -> None:
        self.data, self.layout = data, SliceLayout(tuple(data.shape), axis)

    def __len__(self) -> int:
        return self.layout.n_slices * self.layout.n_volumes

    def __getitem__(self, m: int) -> Any:
        return self.data[self.layout.index_of(m)]


def overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Intersection over union of two intervals (0 when disjoint)."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 1.0


def training_range(bundle: ModelBundle) -> tuple[float, float]:
    """The training stack's robust range (kept in the model), else its min / max."""
    found = bundle.meta.get("intensity_range")
    if found:
        return float(found[0]), float(found[1])
    return bundle.normalizer.low, bundle.normalizer.high


def choose_scaling(
    bundle: ModelBundle, layer: Any, axis: int, choice: str
) -> tuple[bool, str, str]:
    """(scale ``layer`` by its own range?, what was chosen and why, a warning or "") for the
    ``choice`` of ``SCALINGS``."""
    trained = training_range(bundle)
    found = intensity_range(LayerSlices(layer.data, axis))
    here = trained if found is None else (found[0], found[1])
    other_units = overlap(trained, here) < SAME_UNITS_OVERLAP
    ranges = f"{here[0]:.4g} to {here[1]:.4g} against {trained[0]:.4g} to {trained[1]:.4g}"
    if choice == SCALINGS[1]:
        warning = (
            f"'{layer.name}' spans {ranges} of the training stack: scaled like the training "
            "stack, its values lie outside what the model saw"
            if other_units
            else ""
        )
        return False, "scaled like the training stack", warning
    if choice == SCALINGS[2]:
        return True, "scaled by its own range", ""
    if other_units:
        warning = (
            f"'{layer.name}' spans {ranges} of the training stack (other units?): scaled by its "
            "own range"
        )
        return True, f"scaled by its own range (auto: it spans {ranges})", warning
    return False, "scaled like the training stack (auto: same intensity range)", ""
