"""PSNR against training time for one NS-N2N run (the harness's ``curve`` experiment).

The run is the pipeline's, step for step (same threshold, masks, targets and settings), driven
here so that the model can be scored every few steps; scoring time is not counted.
"""

from __future__ import annotations

import time

import numpy as np
from cases import Case
from methods import Budget, _epochs_for, parse_spec
from scoring import summary

from napari_nsn2n import TrainConfig
from napari_nsn2n.events import TrainStep, Validation
from napari_nsn2n.pipeline import compute_differences
from napari_nsn2n.pipeline.targets import guided_target_events
from napari_nsn2n.stack import PreparedStack
from napari_nsn2n.training.loop import training_events
from napari_nsn2n.training.trainer import Trainer


def training_curve(
    case: Case, spec: str, budget: Budget, seed: int, threads: int, every: int
) -> dict:
    name, overrides = parse_spec(spec)
    if name != "ours":
        raise SystemExit("curve: only ours and its variants")
    started = time.perf_counter()
    prepared = PreparedStack.from_array(case.noisy)
    config = TrainConfig.preset("auto", device="cpu", num_threads=threads, seed=seed, **overrides)
    if budget.kind == "steps":
        config = _epochs_for(config, prepared, budget.value)
    guided = config.target == "guided"
    diffs = compute_differences(prepared, keep_lowpass=guided)
    th = diffs.suggest_threshold(config)
    targets = None
    if guided:
        targets = list(guided_target_events(prepared, diffs, th))[-1]
    config = config.resolved(diffs.correlated_noise)
    trainer = Trainer(
        prepared.slices, diffs.lazy_masks(th), prepared.layout.pair_starts(), config, targets
    )
    scoring = 0.0
    points, held_out = [], []
    step = 0
    for event in training_events(trainer):
        if isinstance(event, Validation):
            held_out.append([event.step, round(event.loss, 8)])
        if not isinstance(event, TrainStep):
            continue
        step = event.step
        if step % every == 0 or step == event.total_steps:
            t0 = time.perf_counter()
            out = prepared.normalizer.inverse(trainer.predict(np.asarray(prepared.slices)))
            row = summary(case.clean, out)
            scoring += time.perf_counter() - t0
            points.append(
                [
                    step,
                    round(time.perf_counter() - started - scoring, 1),
                    row["psnr"],
                    row["psnr_fg"],
                ]
            )
    out = prepared.normalizer.inverse(trainer.predict(np.asarray(prepared.slices)))
    seconds = time.perf_counter() - started - scoring  # end to end: LPF, training, inference
    final = summary(case.clean, out, case.inserts, case.tissues)
    trainer.close()
    return {
        **final,
        "seconds": round(seconds, 1),
        "steps": step,
        "th": th,
        "points": points,
        "held_out": held_out,
        "columns": ["step", "seconds", "psnr", "psnr_fg"],
    }
