"""The ``nsn2n`` command line (``nsn2n denoise``, ``nsn2n mask``, ``nsn2n demo``)."""

from .main import main

__all__ = ["main"]
