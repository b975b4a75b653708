"""Speed figures of the engine on this machine, each with a baseline run in the same process.

    python benchmarks/harness.py speed                     # everything (minutes on 2 cores)
    python benchmarks/harness.py speed --parts lpf mask    # some parts

Parts: lpf (s per 512x512 slice, parallel vs one thread), mask (ms from a threshold change to an
updated mask, 100x512x512), train (steps/s of the default settings; batched vs separate forward
passes; 1 vs 2 torch threads), infer (slices/s at 256x256, batched vs one slice at a time),
profile (where one training step's time goes: sampling, the batched forward, the loss, the
backward pass, the optimiser; and the same step with channels-last weights, batch 4 and 48 px
patches), and the peak resident memory. (Time to quality: ``harness.py curve``.)
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from dataclasses import replace

import numpy as np
import torch

from napari_nsn2n.config import TrainConfig
from napari_nsn2n.method.inference import predict_slices
from napari_nsn2n.method.losses import nsn2n_loss
from napari_nsn2n.method.lowpass import LowpassSettings, iter_lowpass
from napari_nsn2n.method.noise_estimates import estimate_stack_sigma
from napari_nsn2n.method.unet import UNet
from napari_nsn2n.pipeline import compute_differences
from napari_nsn2n.resources import available_cores as default_workers
from napari_nsn2n.samples import ct_stack, phantom_volume
from napari_nsn2n.stack import PreparedStack
from napari_nsn2n.training.trainer import Trainer


def timed(fn, repeat: int = 1) -> float:
    """Median seconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def noisy_phantom(shape: tuple[int, int, int], sigma: float = 0.05, seed: int = 0) -> np.ndarray:
    clean = phantom_volume(shape, seed=seed)
    rng = np.random.default_rng(seed)
    return (clean + sigma * rng.standard_normal(shape)).astype(np.float32)


def part_lpf(n_slices: int) -> None:
    stack = noisy_phantom((n_slices, 512, 512))
    sigma = estimate_stack_sigma(stack)
    settings = LowpassSettings()
    one = timed(lambda: list(iter_lowpass(stack, settings, sigma, workers=1))) / n_slices
    workers = default_workers()
    par = timed(lambda: list(iter_lowpass(stack, settings, sigma, workers=workers))) / n_slices
    print(
        f"LPF 512x512: {par:.3f} s/slice on {workers} threads; one thread {one:.3f} s/slice "
        f"(speed-up x{one / par:.2f}); 100x512x512 -> {100 * par:.1f} s"
    )


def part_stabilize(shape: tuple[int, int, int] = (48, 256, 256)) -> None:
    """What ``stabilize="auto"`` costs (its noise fit: the LPF of up to 6 more slices), against
    ``"off"`` in the same process, on a CT-like stack (fit, then plain LPF) and a fluorescence-like
    one (fit, then LPF of the stabilised slices)."""
    from napari_nsn2n.samples import microscopy_stack

    for name, sample in (("CT-like", ct_stack(shape)), ("fluorescence", microscopy_stack(shape))):
        prepared = PreparedStack.from_array(sample.noisy)
        seconds = {}
        for mode in ("off", "auto"):
            settings = LowpassSettings(stabilize=mode)
            seconds[mode] = timed(
                lambda s=settings, p=prepared: compute_differences(p, settings=s), 3
            )
        stabilised = compute_differences(prepared).stabilizer is not None
        print(
            f"LPF differences {name} {shape}: off {seconds['off']:.2f} s, auto "
            f"{seconds['auto']:.2f} s (x{seconds['auto'] / seconds['off']:.2f}; "
            f"{'stabilised' if stabilised else 'not stabilised'})"
        )


def part_mask() -> None:
    rng = np.random.default_rng(0)
    diffs = np.abs(rng.normal(0, 0.01, (99, 512, 512))).astype(np.float32)
    labels = np.zeros((100, 512, 512), np.uint8)
    thresholds = np.linspace(0.005, 0.05, 20)

    def whole_volume(th):
        labels[:-1] = np.where(diffs <= th, 1, 2)

    def shown_slice(th, index=50):
        np.copyto(labels[index], np.where(diffs[index] <= th, 1, 2), casting="unsafe")

    full = statistics.median(timed(lambda t=t: whole_volume(t)) for t in thresholds) * 1e3
    shown = statistics.median(timed(lambda t=t: shown_slice(t)) for t in thresholds) * 1e3
    print(
        f"mask update 100x512x512: shown slice {shown:.2f} ms; whole volume {full:.1f} ms "
        f"(x{full / shown:.0f}); the rest of the volume is filled after the slider settles"
    )


def _default_trainer(stack, config: TrainConfig) -> Trainer:
    prepared = PreparedStack.from_array(stack)
    return Trainer(prepared.slices, None, prepared.layout.pair_starts(), config)


def part_train(stack: np.ndarray, config: TrainConfig, steps: int = 20) -> None:
    for threads in (1, 2):
        torch.set_num_threads(threads)
        trainer = _default_trainer(stack, config)
        batches = [next(trainer.sampler.epoch()) for _ in range(steps + 2)]
        for b in batches[:2]:
            trainer.step(b, 1e-3)
        seconds = timed(lambda tr=trainer, bs=batches: [tr.step(b, 1e-3) for b in bs[2:]]) / steps
        print(
            f"training ({threads} thread{'s' * (threads > 1)}): {1 / seconds:.2f} steps/s "
            f"({seconds * 1e3:.0f} ms/step, batch {config.batch_size}, patch {config.patch_size},"
            f" base {config.base_channels})"
        )
        trainer.close()
    # one batched forward of (x_i, x_{i+1}, mean) versus three separate forward passes
    model = UNet(config.base_channels, config.depth)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    p = config.patch_size or stack.shape[-1]
    xa, xb = torch.rand(config.batch_size, 1, p, p), torch.rand(config.batch_size, 1, p, p)
    w = torch.ones_like(xa)

    def batched():
        fa, fb, fm = model(torch.cat([xa, xb, 0.5 * (xa + xb)])).split(len(xa))
        opt.zero_grad()
        nsn2n_loss(fa, fb, fm, xa, xb, w).total.backward()
        opt.step()

    def separate():
        fa, fb, fm = model(xa), model(xb), model(0.5 * (xa + xb))
        opt.zero_grad()
        nsn2n_loss(fa, fb, fm, xa, xb, w).total.backward()
        opt.step()

    batched(), separate()
    t_b, t_s = timed(batched, 10), timed(separate, 10)
    print(
        f"one batched forward of x_i, x_i+1, mean: {t_b * 1e3:.0f} ms/step; three separate "
        f"passes {t_s * 1e3:.0f} ms/step (x{t_s / t_b:.2f})"
    )


def _step_phases(trainer: Trainer, steps: int) -> dict[str, float]:
    """Median milliseconds of each phase of ``Trainer.step``'s work, done here phase by phase."""
    cfg = trainer.config
    phases: dict[str, list[float]] = {
        k: [] for k in ("sample", "forward", "loss", "backward", "optimiser")
    }
    batches = trainer.sampler.epoch()
    for k in range(steps + 2):
        clock = time.perf_counter()
        batch = {key: torch.from_numpy(a) for key, a in next(batches).items()}
        x_a, x_b = batch.pop("x_a"), batch.pop("x_b")
        marks = [time.perf_counter()]
        f_a, f_b, f_mid = trainer.model(torch.cat([x_a, x_b, 0.5 * (x_a + x_b)])).split(len(x_a))
        marks.append(time.perf_counter())
        terms = nsn2n_loss(f_a, f_b, f_mid, x_a, x_b, lambda_rc=cfg.lambda_rc, **batch)
        marks.append(time.perf_counter())
        trainer.optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        marks.append(time.perf_counter())
        trainer.optimizer.step()
        marks.append(time.perf_counter())
        if k >= 2:  # two warm-up steps
            for name, start, end in zip(phases, [clock, *marks[:-1]], marks, strict=True):
                phases[name].append((end - start) * 1e3)
    return {name: statistics.median(values) for name, values in phases.items()}


def part_profile(stack: np.ndarray, config: TrainConfig, steps: int = 20) -> None:
    """Where a step of ``config`` goes, then whole-step alternatives, all in this process."""
    trainer = _default_trainer(stack, config)
    phases = _step_phases(trainer, steps)
    total = sum(phases.values())
    shares = ", ".join(f"{k} {v:.1f} ms ({100 * v / total:.0f} %)" for k, v in phases.items())
    print(f"training step ({torch.get_num_threads()} threads), {total:.0f} ms: {shares}")
    trainer.close()
    variants = {
        "as configured": (config, False),
        "channels-last weights": (config, True),
        "batch 4": (replace(config, batch_size=4), False),
        "48 px patches": (replace(config, patch_size=48), False),
    }
    baseline = None
    for name, (variant, channels_last) in variants.items():
        trainer = _default_trainer(stack, variant)
        if channels_last:
            trainer.model = trainer.model.to(memory_format=torch.channels_last)
        ms = sum(_step_phases(trainer, steps).values())
        baseline = baseline or ms
        print(f"  {name}: {ms:.0f} ms/step (x{baseline / ms:.2f} of the configured step's speed)")
        trainer.close()


def part_infer(stack: np.ndarray, config: TrainConfig) -> None:
    model = UNet(config.base_channels, config.depth)
    slices = PreparedStack.from_array(stack).slices[:32]
    device = torch.device("cpu")
    predict_slices(model, slices[:2], device)
    batched = timed(lambda: predict_slices(model, slices, device, batch_size=8), 3)
    single = timed(lambda: predict_slices(model, slices, device, batch_size=1), 3)
    print(
        f"inference 256x256: {len(slices) / batched:.1f} slices/s batched (8); "
        f"{len(slices) / single:.1f} slices/s one at a time (x{single / batched:.2f})"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parts = ["lpf", "stabilize", "mask", "train", "profile", "infer"]
    parser.add_argument("--parts", nargs="*", default=parts, choices=parts)
    parser.add_argument("--lpf-slices", type=int, default=10)
    args = parser.parse_args(argv)
    config = TrainConfig.preset("auto")  # what the CLI and the widget use on this machine
    stack = noisy_phantom((48, 256, 256))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; defaults: {config}")
    if "lpf" in args.parts:
        part_lpf(args.lpf_slices)
    if "stabilize" in args.parts:
        part_stabilize()
    if "mask" in args.parts:
        part_mask()
    if "train" in args.parts:
        part_train(stack, config)
    if "profile" in args.parts:
        part_profile(stack, config)
    if "infer" in args.parts:
        part_infer(stack, config)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
