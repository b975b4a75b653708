"""The NS-N2N optimiser step (paper sec. 3.3 and 4.1): model, optimiser and sampler on one device.

A ``Trainer`` never leaves the thread that created it: ``training.loop.training_events`` drives it
and yields only plain events.
"""

from __future__ import annotations

import numpy as np
import torch

from ..config import TrainConfig
from ..device import release_device_memory, select_device, set_torch_threads
from ..events import Recovered
from ..method.dihedral import transform
from ..method.inference import predict_slices
from ..method.losses import nsn2n_loss
from ..method.unet import build_unet
from .guard import DivergenceGuard
from .sampler import PairSampler
from .validation import HeldOutLoss, holdout_map


def autocast_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    """bf16 (or fp16) autocast on CUDA when mixed precision is on; None elsewhere."""
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


class Trainer:
    """Model, optimiser and sampler of one run, living on one device."""

    def __init__(
        self,
        slices: np.ndarray,
        masks: np.ndarray | None,
        pair_starts: np.ndarray,
        config: TrainConfig,
        targets: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        # api.run resolves lambda_rc="auto" from the LPF; without that knowledge: the paper's 0.5
        self.config = config = config.resolved(None)
        self.device = select_device(config.device)
        if config.num_threads:
            set_torch_threads(config.num_threads)  # clamped to the available cores
        torch.manual_seed(config.seed)
        self.model = build_unet(config).to(self.device)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(),
            lr=config.learning_rate,
            betas=(config.beta1, config.beta2),
            eps=config.adam_eps,
        )
        rng = np.random.default_rng(config.seed)
        masks = masks if config.use_mask else None
        holdout = None
        self.held_out: HeldOutLoss | None = None
        if config.validation_fraction > 0:
            holdout = holdout_map(*slices.shape[-2:], config.validation_fraction, config.seed)
            self.held_out = HeldOutLoss(slices, masks, pair_starts, holdout)
        self.sampler = PairSampler(slices, masks, pair_starts, config, rng, holdout, targets)
        self.slices = slices
        self.amp_dtype = autocast_dtype(self.device, config.mixed_precision)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.pin = self.device.type == "cuda"
        self.guard = DivergenceGuard()
        self.guard.start(self.model, self.optimizer)
        self.last_recovery: Recovered | None = None
        self.stopped_at: int | None = None  # the step the stop rule ended training at

    @property
    def steps_per_epoch(self) -> int:
        return self.sampler.batches_per_epoch

    @property
    def epochs(self) -> int:
        """Epochs of this run: ``config.epochs``, or more when ``config.min_steps`` asks for it."""
        return self.config.epochs_for(self.steps_per_epoch)

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def learning_rate(self, epoch: int) -> float:
        """The lr of ``epoch`` (from 0) in this run (``TrainConfig.learning_rate_at``)."""
        return self.config.learning_rate_at(epoch, self.epochs)

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(array)
        if self.pin:
            tensor = tensor.pin_memory()
        return tensor.to(self.device, non_blocking=self.pin)

    def step(self, batch: dict[str, np.ndarray], lr: float) -> tuple[float, ...]:
        """One optimiser step on a batch at the schedule's ``lr`` (scaled down by the divergence
        guard after a rollback); returns (total, recon, rc, ic) as floats. A step whose loss
        explodes restores earlier weights: ``last_recovery`` then says which."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr * self.guard.lr_scale
        turns, flip = self.sampler.transform()
        arrays = {k: transform(self._to_device(a), turns, flip) for k, a in batch.items()}
        x_a, x_b = arrays.pop("x_a"), arrays.pop("x_b")
        cfg = self.config
        with torch.autocast(self.device.type, self.amp_dtype, enabled=self.amp_dtype is not None):
            inputs = [x_a, x_b] + ([0.5 * (x_a + x_b)] if cfg.lambda_ic > 0 else [])
            outputs = self.model(torch.cat(inputs)).float().split(len(x_a))
        f_a, f_b = outputs[0], outputs[1]
        f_mid = outputs[2] if cfg.lambda_ic > 0 else 0.5 * (f_a + f_b).detach()
        terms = nsn2n_loss(
            f_a,
            f_b,
            f_mid,
            x_a,
            x_b,
            lambda_rc=cfg.lambda_rc,
            lambda_ic=cfg.lambda_ic,
            lambda_self=cfg.lambda_self,
            reduction=cfg.loss_reduction,
            **arrays,
        )
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(terms.total).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            terms.total.backward()
            self.optimizer.step()
        values = torch.stack([terms.total, terms.recon, terms.rc, terms.ic]).detach().float().cpu()
        total, recon, rc, ic = (float(v) for v in values)
        self.last_recovery = self.guard.after_step(total, self.model, self.optimizer)
        return total, recon, rc, ic

    def held_out_loss(self) -> float | None:
        """The loss on the held-out pixels now, or None without a held-out set."""
        if self.held_out is None:
            return None
        return self.held_out(self.model, self.device, self.amp_dtype)

    def predict(self, slices: np.ndarray, **kwargs) -> np.ndarray:
        """Denoise normalised slices (M, H, W) with the current weights."""
        was_training = self.model.training
        result = predict_slices(self.model, slices, self.device, amp_dtype=self.amp_dtype, **kwargs)
        self.model.train(was_training)
        return result

    def cpu_state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}

    def close(self) -> None:
        """Drop the model and optimiser and give cached device memory back."""
        self.model = None
        self.optimizer = None
        self.guard.release()
        release_device_memory(self.device)
