"""Progress of a run for a person: a bar on a terminal, plain lines in a log, from the events."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from typing import IO

from ..events import (
    Event,
    Finished,
    Recovered,
    StageProgress,
    TrainingStarted,
    TrainStep,
    Validation,
)

UNITS = {"lowpass": "slice", "training": "step", "inference": "slice", "structure": "slice"}
LOG_EVERY = 0.1  # plain-line mode: one line per tenth of a stage


def describe_start(event: TrainingStarted) -> str:
    """One line on what the run chose: threshold, matched fraction, L_RC weight, schedule."""
    parts = []
    if event.threshold is not None:
        matched = (
            "" if event.matched_fraction is None else f", {event.matched_fraction:.1%} matched"
        )
        parts.append(f"threshold {event.threshold:.4g}{matched}")
    if event.lambda_rc is not None and event.lambda_rc_auto:
        # a weight > 0 is the paper's: correlated noise, or none checked (no mask)
        why = "the paper's weight" if event.lambda_rc else "pixel-independent noise"
        parts.append(f"L_RC weight {event.lambda_rc:g} (auto: {why})")
    parts.append(
        f"{event.total_steps} steps ({event.epochs} epochs x {event.steps_per_epoch}) on "
        f"{event.n_pairs} pairs, {event.device}"
    )
    return "; ".join(parts)


class ProgressReporter:
    """Shows the events of one run on ``stream`` (stderr): tqdm bars where it is a terminal,
    else a plain line per tenth of each stage (no carriage returns in a log file). ``quiet``
    keeps only the lines that say what was chosen or went wrong (no progress)."""

    def __init__(
        self,
        label: str,
        stream: IO[str] | None = None,
        interactive: bool | None = None,
        quiet: bool = False,
    ) -> None:
        self.label, self.quiet = label, quiet
        self.stream = stream or sys.stderr
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.interactive = isatty() if interactive is None else interactive
        self.bar = None
        self.stage = ""
        self._next_line = 0.0
        self._stage_started = 0.0
        self._validation: Validation | None = None  # the latest, shown with the training progress

    # ----------------------------------------------------------------------------- output
    def say(self, text: str) -> None:
        """A line of its own (above the bar when one is shown)."""
        if self.bar is not None:
            self.bar.write(f"{self.label}: {text}", file=self.stream)
        else:
            print(f"{self.label}: {text}", file=self.stream, flush=True)

    def _open(self, stage: str, total: int, done: int) -> None:
        self.close()
        self.stage, self._stage_started = stage, time.perf_counter()
        self._next_line = 0.0
        if self.interactive and not self.quiet:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total,
                initial=done,  # the first block's own time is not a rate
                desc=f"{self.label} {stage}",
                unit=UNITS.get(stage, "it"),
                file=self.stream,
                dynamic_ncols=True,
                leave=True,
            )

    def _advance(self, done: int, total: int, postfix: str = "") -> None:
        if self.bar is not None:
            self.bar.n = done
            if postfix:
                self.bar.set_postfix_str(postfix, refresh=False)
            self.bar.refresh()
            return
        if self.quiet or self.interactive:
            return
        fraction = done / max(total, 1)
        if fraction + 1e-9 >= self._next_line or done == total:
            elapsed = time.perf_counter() - self._stage_started
            extra = f" {postfix}" if postfix else ""
            print(
                f"{self.label} {self.stage}: {done}/{total} {UNITS.get(self.stage, 'it')}s"
                f" ({elapsed:.0f} s){extra}",
                file=self.stream,
                flush=True,
            )
            self._next_line = (int(fraction / LOG_EVERY) + 1) * LOG_EVERY

    # ----------------------------------------------------------------------------- events
    def __call__(self, event: Event) -> None:
        if isinstance(event, StageProgress):
            if self.stage != event.stage:
                self._open(event.stage, event.total, event.done)
            self._advance(event.done, event.total)
        elif isinstance(event, TrainingStarted):
            self.close()
            self.say(describe_start(event))
            self._open("training", event.total_steps, 0)
        elif isinstance(event, TrainStep):
            postfix = (
                f"loss {event.loss:.3g} (recon {event.recon:.3g}, rc {event.rc:.2g}, "
                f"ic {event.ic:.2g}) lr {event.lr:.1e}{self._held_out()}"
            )
            self._advance(event.step, event.total_steps, postfix)
        elif isinstance(event, Validation):
            self._validation = event
        elif isinstance(event, Recovered):
            self.say(event.message())
        elif isinstance(event, Finished):
            self.close()
            if not self.quiet:
                how = "stopped early" if event.stopped_early else "done"
                rule_step = event.model.meta.get("stopped_by_rule_at")
                if rule_step and self._validation is not None and not event.stopped_early:
                    how = (
                        f"the held-out loss stopped training at step {rule_step} "
                        f"(the best weights, of step {self._validation.best_step}, kept); done"
                    )
                self.say(f"{how} in {event.elapsed_s:.1f} s")

    def _held_out(self) -> str:
        v = self._validation
        return "" if v is None else f" held-out {v.loss:.4g} (best at step {v.best_step})"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.stage = ""

    def follow(self, events: Iterable[Event]) -> Finished | None:
        """Show every event of ``events`` and return the ``Finished`` one (None if it stopped)."""
        finished = None
        try:
            for event in events:
                self(event)
                if isinstance(event, Finished):
                    finished = event
        finally:
            self.close()
        return finished


class _Sink:
    def __init__(self, show: Callable[[Event], None] | None, reporter: ProgressReporter | None):
        self.show, self.reporter = show, reporter

    def __call__(self, event: Event) -> None:
        if self.show is not None:
            self.show(event)

    def close(self) -> None:
        if self.reporter is not None:
            self.reporter.close()


def event_sink(progress: bool | Callable[[Event], None] | None, label: str) -> _Sink:
    """What the convenience functions do with each event: nothing (False / None), show it with a
    :class:`ProgressReporter` (True), or pass it to a callable."""
    if progress is True:
        reporter = ProgressReporter(label)
        return _Sink(reporter, reporter)
    if callable(progress):
        return _Sink(progress, None)
    return _Sink(None, None)
