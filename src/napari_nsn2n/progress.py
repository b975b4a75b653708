"""A terminal progress bar for the CLI, fed by the engine's events."""

from __future__ import annotations

from tqdm.auto import tqdm

from .events import Event, Finished, Recovered, StageProgress, TrainingStarted, TrainStep


class ProgressBar:
    """One tqdm bar per stage (lowpass, training, inference); training shows losses and ETA."""

    def __init__(self, label: str, disable: bool = False) -> None:
        self.label, self.disable = label, disable
        self.bar: tqdm | None = None
        self.stage = ""

    def _open(self, stage: str, total: int) -> None:
        self.close()
        self.stage = stage
        self.bar = tqdm(
            total=total,
            desc=f"{self.label} {stage}",
            unit="step" if stage == "training" else "slice",
            disable=self.disable,
            dynamic_ncols=True,
            leave=True,
        )

    def update(self, event: Event) -> None:
        if isinstance(event, StageProgress):
            if self.stage != event.stage:
                self._open(event.stage, event.total)
            self.bar.n = event.done
            self.bar.refresh()
        elif isinstance(event, TrainingStarted):
            self._open("training", event.total_steps)
            self.bar.set_postfix_str(f"device={event.device} pairs={event.n_pairs}")
        elif isinstance(event, TrainStep):
            self.bar.n = event.step
            if event.step % 5 == 0 or event.step == event.total_steps:
                self.bar.set_postfix(
                    loss=f"{event.loss:.3g}",
                    recon=f"{event.recon:.3g}",
                    rc=f"{event.rc:.2g}",
                    ic=f"{event.ic:.2g}",
                    epoch=event.epoch,
                    lr=f"{event.lr:.1e}",
                    refresh=False,
                )
            self.bar.refresh()
        elif isinstance(event, Recovered):
            (self.bar.write if self.bar is not None else print)(f"{self.label}: {event.message()}")
        elif isinstance(event, Finished):
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
