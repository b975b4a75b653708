"""The status line of a training run: step, epoch, loss, time left, held-out loss, device."""

from __future__ import annotations

import time
from collections import deque

from ...events import TrainingStarted, TrainStep, Validation

RATE_WINDOW = 20  # step events the ETA's rate is measured over


def format_time(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class RunStatus:
    """What the status line says about a run. The time left comes from the rate of the last
    ``RATE_WINDOW`` steps, with pauses left out (the engine's elapsed time includes them)."""

    def __init__(self) -> None:
        self._rates: deque[tuple[float, int]] = deque(maxlen=RATE_WINDOW)
        self.reset()

    def reset(self) -> None:
        self.started: TrainingStarted | None = None
        self.last_step: TrainStep | None = None
        self.last_validation: Validation | None = None
        self._rates.clear()

    def step(self, event: TrainStep, paused: bool) -> None:
        self.last_step = event
        if not paused:
            self._rates.append((time.monotonic(), event.step))

    def resumed(self) -> None:
        self._rates.clear()  # the pause is not part of the step rate

    def eta_s(self) -> float | None:
        """Seconds left at the recent step rate, None before any step."""
        step = self.last_step
        if step is None:
            return None
        if len(self._rates) >= 2:
            (t0, s0), (t1, s1) = self._rates[0], self._rates[-1]
            if s1 > s0 and t1 > t0:
                return (step.total_steps - step.step) * (t1 - t0) / (s1 - s0)
        return step.eta_s

    def text(self, paused: bool) -> str:
        step, started = self.last_step, self.started
        if step is None:
            return ""
        eta = self.eta_s()
        parts = [
            f"step {step.step}/{step.total_steps}",
            f"epoch {step.epoch}/{started.epochs if started else '?'}",
            f"loss {step.loss:.3g}",
            "paused" if paused else f"ETA {format_time(eta) if eta is not None else '-'}",
        ]
        if self.last_validation is not None:
            v = self.last_validation
            parts.append(f"held-out {v.loss:.3g} (best at step {v.best_step})")
        if started is not None:
            parts.append(started.device)
        return " · ".join(parts)
