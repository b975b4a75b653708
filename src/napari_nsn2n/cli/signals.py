"""Termination signals as exceptions, so that a killed run cleans up like an interrupted one.

SIGTERM (``kill``, a cluster scheduler's time limit), SIGHUP (a closed terminal) and SIGQUIT
raise :class:`Terminated` in the main thread while ``termination_as_exception`` is active; the
``finally`` blocks of ``io.atomic`` then remove their temporaries. SIGINT already raises
KeyboardInterrupt. SIGKILL cannot be caught: what it leaves is named ``.NAME.XXXXXXXX.partial``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

CAUGHT = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name)
)


class Terminated(BaseException):
    """A termination signal arrived (a BaseException, like KeyboardInterrupt, so that no
    ``except Exception`` swallows it)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal number (143 for SIGTERM, 129 for SIGHUP)."""
        return 128 + self.signum


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def termination_as_exception() -> Iterator[None]:
    """Turn the signals of ``CAUGHT`` into :class:`Terminated` for the block (main thread only;
    elsewhere the block runs unchanged). The previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _raise) for signum in CAUGHT}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
