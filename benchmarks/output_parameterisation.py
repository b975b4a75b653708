"""Direct versus residual U-Net output on a CT-like stack: whole-image PSNR every 100 steps.

    python benchmarks/output_parameterisation.py            # the three rows of docs/method.md

Constant learning rate 1e-3, 16 channels, 64 px patches, batch 8, th = 0.01, seed 0, one torch
thread; stack: samples.ct_stack(shape=(24, 128, 128)) (ramp FBP).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch
from checkpoints import train_with_checkpoints

from napari_nsn2n.config import TrainConfig
from napari_nsn2n.metrics import psnr
from napari_nsn2n.pipeline import compute_differences
from napari_nsn2n.samples import ct_stack
from napari_nsn2n.stack import PreparedStack
from napari_nsn2n.training.trainer import Trainer

VARIANTS = {
    "direct": {"residual": False},
    "residual-default-init": {"residual": True, "_default_init": True},
    "residual-zero-init": {"residual": True},
}


def run(name: str, prepared, clean, masks, steps: int) -> list[float]:
    options = dict(VARIANTS[name])
    default_init = options.pop("_default_init", False)
    config = replace(
        TrainConfig(
            base_channels=16, patch_size=64, batch_size=8, epochs=10_000, lr_halving_epochs=10_000
        ),
        **options,
    )
    trainer = Trainer(prepared.slices, masks, prepared.layout.pair_starts(), config)
    if default_init:
        torch.manual_seed(config.seed)
        trainer.model.head.reset_parameters()  # PyTorch's default init instead of zeros
        trainer.optimizer.state.clear()
    curve = [
        psnr(clean, prepared.restore(trainer.predict(prepared.slices)))
        for _ in train_with_checkpoints(trainer, 100, max_steps=steps)
    ]
    trainer.close()
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    sample = ct_stack(shape=(24, 128, 128))
    prepared = PreparedStack.from_array(sample.noisy)
    masks = compute_differences(prepared).lazy_masks(0.01)
    print(f"noisy {psnr(sample.clean, sample.noisy):.2f} dB")
    for name in args.variants:
        start = time.perf_counter()
        curve = run(name, prepared, sample.clean, masks, args.steps)
        points = " ".join(f"{100 * (k + 1)}:{v:.2f}" for k, v in enumerate(curve))
        print(f"{name:24s} {points}  ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
