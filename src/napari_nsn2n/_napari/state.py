"""What the dock widget's panels share, as one evented dataclass (psygnal).

Each panel reads the fields it needs and writes the ones it owns; every change emits
``state.events.<field>`` (and ``state.events.all``), which the panels connect to instead of
calling each other. Only the main thread writes the state (workers report through signals).

Layers are compared by napari's ``unique_id``: a widget opened from the Plugins menu is handed
proxy objects, a different one at each access, so ``is`` would see a different layer every time.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

from psygnal import evented

from ..method.lowpass import LowpassSettings
from ..method.masks import PairDifferences
from ..models import ModelBundle


def same_layer(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are the same napari layer (either may be a proxy, or None)."""
    if a is None or b is None:
        return a is b
    return a.unique_id == b.unique_id


@evented(
    equality_operators={
        "layer": same_layer,
        "differences": operator.is_,
        "model": operator.is_,
    }
)
@dataclass
class WidgetState:
    """The picked stack, its cached LPF differences, the threshold, the current model and what
    is running."""

    layer: Any = None  # the picked image layer, None when there is none
    axis: int | None = None  # the slice axis (None: not chosen, or the layer is unusable)
    problem: str = ""  # why the picked layer cannot be denoised ("" when it can)
    lowpass: LowpassSettings = field(default_factory=LowpassSettings)
    differences: PairDifferences | None = None  # of layer / axis / lowpass, when computed
    threshold: float | None = None  # th of Eq. 3 ([0, 1] scale) chosen for layer; None: auto
    model: ModelBundle | None = None
    model_origin: str = ""  # "trained on 'x'", "loaded from y.pt"
    lpf_running: bool = False
    training: bool = False
    applying: bool = False

    @property
    def ready(self) -> bool:
        """A stack and its slice axis are chosen, and the stack can be denoised."""
        return self.layer is not None and self.axis is not None and not self.problem

    @property
    def busy(self) -> bool:
        return self.lpf_running or self.training or self.applying
