"""Typed exceptions: every failure a user can cause raises one of these, with a one-line message."""

from __future__ import annotations


class NSN2NError(Exception):
    """Base class of every error napari-nsn2n raises on purpose."""


class InvalidStackError(NSN2NError, ValueError):
    """The array cannot be denoised as a stack of slices (2D, one slice, NaN, constant, RGB...)."""


class FileFormatError(NSN2NError, ValueError):
    """A file is missing, unreadable, corrupt or of an unsupported format."""


class OutputError(NSN2NError, OSError):
    """An output cannot be written (exists without overwrite, folder missing or read-only)."""


class ModelFormatError(NSN2NError, ValueError):
    """A model file is not a napari-nsn2n model of a supported version."""


class TrainingStopped(NSN2NError):
    """Training was stopped before it finished (by the user or a closing viewer)."""
