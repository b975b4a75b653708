"""A 3D (or 4D) input as a stack of 2D slices: checks, slice axis, normalisation, pairs."""

from .checks import MIN_SIDE, check_stack, resolve_axis
from .layout import SliceLayout, evenly_spaced
from .normalize import Normalizer, intensity_range
from .prepared import NormalizedSlices, PreparedStack, is_lazy

__all__ = [
    "MIN_SIDE",
    "NormalizedSlices",
    "Normalizer",
    "PreparedStack",
    "SliceLayout",
    "check_stack",
    "evenly_spaced",
    "intensity_range",
    "is_lazy",
    "resolve_axis",
]
