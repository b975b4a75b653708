"""Typed exceptions: every failure a user can cause raises one of these, with a one-line message."""

from __future__ import annotations


class NSN2NError(Exception):
    """Base class of every error napari-nsn2n raises on purpose."""


class InvalidSettingError(NSN2NError, ValueError, TypeError):
    """A setting has the wrong type or is out of range (``TrainConfig``, a request, an option)."""


class InvalidStackError(NSN2NError, ValueError):
    """The array cannot be denoised as a stack of slices (2D, one slice, NaN, constant, RGB...)."""


class FileFormatError(NSN2NError, ValueError):
    """A file is missing, unreadable, corrupt or of an unsupported format."""


class OutputError(NSN2NError, OSError):
    """An output cannot be written (exists without overwrite, folder missing or read-only)."""


class ModelFormatError(NSN2NError, ValueError):
    """A model file is not a napari-nsn2n model of a supported version."""


class TrainingFailed(NSN2NError):
    """Training could not make progress (the loss exploded at every step, or the result is not
    finite); nothing is returned rather than the input or a broken result."""


class TrainingStopped(NSN2NError):
    """Training was stopped before it finished (by the user or a closing viewer)."""
