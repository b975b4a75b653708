"""The methods the benchmark compares, each run blind on one case (no clean reference used).

A method spec is a name, optionally with TrainConfig overrides in brackets for ours:
``ours``, ``ours[loss_reduction=sum]``, ``ours[adam_eps=1e-12,lambda_rc=0.5]``, ``paper``,
``gaussian``, ``nlm``, ``bm3d``, ``bm3d_vst``, ``nb2nb``, ``ngps``, ``ngps_nsn2n`` (the last two
need ``--ngps PATH``: a checkout of github.com/cv-cho/NGPS, run as it is, never copied here).

Budgets: ``steps:N`` (every learned method makes N optimiser steps; a spec that sets
``stop_patience`` makes N a cap), ``default`` (each method's own default: ours = the product's
CPU default, paper = 100 epochs, NGPS = its config's 10 epochs), ``seconds:T`` (each learned
method trains for about T seconds of its own step time, measured on a short calibration run
first).
"""

from __future__ import annotations

import ast
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from cases import Case

from napari_nsn2n import TrainConfig
from napari_nsn2n.method.lowpass import LowpassSettings
from napari_nsn2n.pipeline import RunRequest, compute_differences, run
from napari_nsn2n.stack import PreparedStack

CALIBRATION_STEPS = 20


@dataclass(frozen=True)
class Budget:
    kind: str  # "steps" | "default" | "seconds"
    value: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Budget:
        if text == "default":
            return cls("default")
        kind, _, value = text.partition(":")
        if kind not in ("steps", "seconds") or not value:
            raise SystemExit(f"budget {text!r}: use steps:N, seconds:T or default")
        return cls(kind, float(value))

    def __str__(self) -> str:
        return "default" if self.kind == "default" else f"{self.kind}:{self.value:g}"


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``name[key=value,...]`` -> (name, overrides); values are Python literals or strings."""
    name, _, rest = spec.partition("[")
    overrides: dict[str, Any] = {}
    for item in filter(None, rest.rstrip("]").split(",")):
        key, _, text = item.partition("=")
        try:
            overrides[key.strip()] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            overrides[key.strip()] = text.strip()
    return name, overrides


# ------------------------------------------------------------------------------------- ours


def _epochs_for(config: TrainConfig, prepared: PreparedStack, steps: float) -> TrainConfig:
    per_epoch = config.steps_per_epoch(
        len(prepared.layout.pair_starts()), *prepared.slices.shape[1:]
    )
    return replace(config, epochs=max(1, round(steps / per_epoch)), min_steps=None)


def run_engine(
    case: Case,
    budget: Budget,
    seed: int,
    threads: int,
    preset: str,
    threshold: float | str,
    lowpass: LowpassSettings,
    overrides: dict[str, Any],
    th_factor: float | None = None,
) -> tuple[np.ndarray, float, dict]:
    """NS-N2N through the pipeline (LPF included in the seconds). ``overrides`` may hold
    ``keep_structure`` (the structure step after inference, on by default)."""
    overrides = dict(overrides)
    keep = bool(overrides.pop("keep_structure", True))
    prepared = PreparedStack.from_array(case.noisy)
    config = TrainConfig.preset(preset, device="cpu", num_threads=threads, seed=seed, **overrides)
    start = time.perf_counter()
    diffs = compute_differences(prepared, settings=lowpass, keep_lowpass=config.target == "guided")
    if budget.kind == "steps":
        config = _epochs_for(config, prepared, budget.value)
    if th_factor is not None:
        threshold = th_factor * diffs.suggest_threshold(config)
    if budget.kind == "seconds":
        probe = _epochs_for(config, prepared, CALIBRATION_STEPS)
        t0 = time.perf_counter()
        lpf = t0 - start
        list(run(RunRequest(case.noisy, threshold, probe, differences=diffs)))
        per_step = (time.perf_counter() - t0) / CALIBRATION_STEPS
        config = _epochs_for(config, prepared, max(1.0, (budget.value - lpf) / per_step))
        start = time.perf_counter() - lpf  # the calibration run is not counted
    request = RunRequest(case.noisy, threshold, config, differences=diffs, keep_structure=keep)
    finished = list(run(request))[-1]
    seconds = time.perf_counter() - start
    bundle = finished.model
    info = {
        "th": bundle.threshold,
        "steps": bundle.meta.get("steps"),
        "recoveries": bundle.meta.get("recoveries"),
        "lambda_rc": bundle.config.lambda_rc,
        "stabilized": diffs.stabilizer is not None,
        "config": {k: v for k, v in overrides.items()},
        "keep_structure": keep,
    }
    return np.asarray(finished.denoised), seconds, info


def ours(case, budget, seed, threads, overrides):
    """The product's CPU defaults (``TrainConfig.preset("auto")`` on a CPU) with ``overrides``:
    TrainConfig fields, ``th`` (a fixed threshold), ``th_factor`` (the suggestion times this)
    and the LPF's ``h_factor`` / ``stabilize``."""
    overrides = dict(overrides)
    threshold: float | str = overrides.pop("th", "auto")
    factor = overrides.pop("th_factor", None)
    lowpass = LowpassSettings(
        **{
            k: overrides.pop(k)
            for k in ("h_factor", "stabilize", "inter_slice_sigma")
            if k in overrides
        }
    )
    return run_engine(case, budget, seed, threads, "auto", threshold, lowpass, overrides, factor)


def paper(case, budget, seed, threads, overrides):
    """The paper's settings: 32-channel U-Net, Adam(0.5, 0.999) at 1e-3 halved every fifth of
    the run, lambda_RC 0.5, lambda_IC 1, the paper's th, the plain LPF (NLM + median, no variance
    stabilisation, in-plane noise estimate), the network's output as it is; ``default`` = 100
    epochs."""
    lowpass = LowpassSettings(stabilize="off", inter_slice_sigma=False)
    overrides = {"keep_structure": False, **overrides}
    return run_engine(case, budget, seed, threads, "paper", case.paper_th, lowpass, overrides)


# -------------------------------------------------------------------------------- classical


def classical(name: str):
    def method(case, budget, seed, threads, overrides):
        import baselines

        prepared = PreparedStack.from_array(case.noisy)
        x = np.asarray(prepared.slices, dtype=np.float32)
        start = time.perf_counter()
        noise = baselines.noise_sigma(x)
        if name == "nb2nb":
            steps = int(budget.value) if budget.kind == "steps" else 800
            y = baselines.neighbor2neighbor(x, steps=steps, seed=seed, threads=threads)
        elif name == "bm3d_vst":
            y = baselines.bm3d_vst(x)
        else:
            y = getattr(baselines, {"bm3d": "bm3d_stack"}.get(name, name))(x, noise)
        seconds = time.perf_counter() - start
        return prepared.normalizer.inverse(y), seconds, {"noise_sigma": round(noise, 5)}

    return method


# ------------------------------------------------------------------------------------- NGPS


def ngps_method(objective: str):
    def method(case, budget, seed, threads, overrides, checkout=None):
        import ngps_runner

        if checkout is None:
            raise SystemExit("ngps methods need --ngps PATH (a checkout of cv-cho/NGPS)")
        prepared = PreparedStack.from_array(case.noisy)
        x = np.asarray(prepared.slices, dtype=np.float32)
        start = time.perf_counter()
        y, info = ngps_runner.train_and_denoise(
            checkout, x, objective, budget, seed, threads, **overrides
        )
        seconds = time.perf_counter() - start
        return prepared.normalizer.inverse(y), seconds, info

    method.needs_checkout = True
    return method


METHODS = {
    "ours": ours,
    "paper": paper,
    **{name: classical(name) for name in ("gaussian", "nlm", "bm3d", "bm3d_vst", "nb2nb")},
    "ngps": ngps_method("ngps"),
    "ngps_nsn2n": ngps_method("nsn2n"),
}
