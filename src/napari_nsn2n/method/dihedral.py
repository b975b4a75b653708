"""The eight symmetries of the square (quarter turns and a flip) on the last two axes of a tensor:
random augmentation in training and test-time augmentation at inference use the same ones."""

from __future__ import annotations

import torch

# (quarter turns, flip) for each of the eight symmetries; the first is the identity
DIHEDRAL: list[tuple[int, bool]] = [(k, f) for f in (False, True) for k in range(4)]


def transform(x: torch.Tensor, turns: int, flip: bool) -> torch.Tensor:
    """Flip (last axis) if ``flip``, then rotate by ``turns`` quarter turns."""
    if flip:
        x = x.flip(-1)
    return torch.rot90(x, turns, dims=(-2, -1)) if turns else x


def undo(x: torch.Tensor, turns: int, flip: bool) -> torch.Tensor:
    """The inverse of :func:`transform`."""
    x = torch.rot90(x, -turns, dims=(-2, -1)) if turns else x
    return x.flip(-1) if flip else x
