"""Thread-safe stop / pause flags that a GUI or a script sets while a run goes on elsewhere."""

from __future__ import annotations

import threading


class RunControl:
    """Checked by the training loop between steps: ``stop()`` ends training early (the model
    trained so far is still used), ``pause()`` / ``resume()`` hold and release it."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self, poll_s: float = 0.05) -> None:
        while not self._running.wait(poll_s):
            pass
