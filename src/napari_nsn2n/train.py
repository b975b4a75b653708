"""The NS-N2N training loop (paper sec. 3.3 and 4.1) as a generator of progress events.

``Trainer`` owns the model, the optimiser and the data on one device. It never leaves the thread
that created it: ``training_events`` drives it and yields only plain events.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np
import torch

from .config import TrainConfig
from .control import RunControl
from .device import release_device_memory, select_device
from .events import EpochEnd, Preview, Recovered, TrainingStarted, TrainStep
from .guard import DivergenceGuard
from .inference import predict_slices
from .losses import nsn2n_loss
from .model import UNet


def autocast_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    """bf16 (or fp16) autocast on CUDA when mixed precision is on; None elsewhere."""
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


class PairSampler:
    """Batches of (x_i, x_{i+1}, W_i) patches.

    An epoch carries as many pixels as the paper's (every pair once, whole slices): each pair
    contributes ``ceil(H * W / patch_area)`` random patches, in random order. With ``augment``,
    each batch gets one random flip / quarter turn (the same for x_i, x_{i+1} and W_i).
    """

    def __init__(
        self,
        slices: np.ndarray,
        masks: np.ndarray | None,
        pair_starts: np.ndarray,
        config: TrainConfig,
        rng: np.random.Generator,
    ) -> None:
        self.slices, self.masks, self.pair_starts = slices, masks, np.asarray(pair_starts)
        self.batch_size, self.augment, self.rng = config.batch_size, config.augment, rng
        height, width = slices.shape[-2:]
        self.patch = config.patch_shape(height, width)
        self.patches_per_pair = config.patches_per_pair(height, width)
        self.batches_per_epoch = config.steps_per_epoch(len(self.pair_starts), height, width)

    def epoch(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        n_pairs = len(self.pair_starts)
        order = np.concatenate(
            [self.rng.permutation(n_pairs) for _ in range(self.patches_per_pair)]
        )
        for first in range(0, len(order), self.batch_size):
            yield self._gather(order[first : first + self.batch_size])

    def _gather(self, pair_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ph, pw = self.patch
        height, width = self.slices.shape[-2:]
        count = len(pair_ids)
        x_a = np.empty((count, 1, ph, pw), np.float32)
        x_b = np.empty_like(x_a)
        weight = np.ones((count, 1, ph, pw), np.float32)
        for k, pid in enumerate(pair_ids):
            top = int(self.rng.integers(0, height - ph + 1))
            left = int(self.rng.integers(0, width - pw + 1))
            window = (slice(top, top + ph), slice(left, left + pw))
            start = int(self.pair_starts[pid])
            x_a[k, 0] = self.slices[start][window]
            x_b[k, 0] = self.slices[start + 1][window]
            if self.masks is not None:
                weight[k, 0] = self.masks[pid][window]
        return x_a, x_b, weight

    def transform(self) -> tuple[int, bool]:
        """A random rotation (quarter turns) and flip for one batch, or none without augment."""
        if not self.augment:
            return 0, False
        return int(self.rng.integers(4)), bool(self.rng.integers(2))


def _augment(tensor: torch.Tensor, quarter_turns: int, flip: bool) -> torch.Tensor:
    if flip:
        tensor = tensor.flip(-1)
    return torch.rot90(tensor, quarter_turns, dims=(-2, -1)) if quarter_turns else tensor


class Trainer:
    """Model, optimiser and sampler of one run, living on one device."""

    def __init__(
        self,
        slices: np.ndarray,
        masks: np.ndarray | None,
        pair_starts: np.ndarray,
        config: TrainConfig,
    ) -> None:
        # api.run resolves lambda_rc="auto" from the LPF; without that knowledge: the paper's 0.5
        self.config = config = config.resolved(None)
        self.device = select_device(config.device)
        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        torch.manual_seed(config.seed)
        self.model = UNet(
            config.base_channels, config.depth, config.residual, config.group_norm
        ).to(self.device)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=config.learning_rate, betas=(config.beta1, config.beta2)
        )
        rng = np.random.default_rng(config.seed)
        self.sampler = PairSampler(
            slices, masks if config.use_mask else None, pair_starts, config, rng
        )
        self.slices = slices
        self.amp_dtype = autocast_dtype(self.device, config.mixed_precision)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.pin = self.device.type == "cuda"
        self.guard = DivergenceGuard()
        self.guard.start(self.model, self.optimizer)
        self.last_recovery: Recovered | None = None

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

    def step(
        self, batch: tuple[np.ndarray, np.ndarray, np.ndarray], lr: float
    ) -> tuple[float, ...]:
        """One optimiser step on a batch at the schedule's ``lr`` (scaled down by the divergence
        guard after a rollback); returns (total, recon, rc, ic) as floats. A step whose loss
        explodes restores earlier weights: ``last_recovery`` then says which."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr * self.guard.lr_scale
        turns, flip = self.sampler.transform()
        x_a, x_b, weight = (_augment(self._to_device(a), turns, flip) for a in batch)
        cfg = self.config
        with torch.autocast(self.device.type, self.amp_dtype, enabled=self.amp_dtype is not None):
            inputs = [x_a, x_b] + ([0.5 * (x_a + x_b)] if cfg.lambda_ic > 0 else [])
            outputs = self.model(torch.cat(inputs)).float().split(len(x_a))
        f_a, f_b = outputs[0], outputs[1]
        f_mid = outputs[2] if cfg.lambda_ic > 0 else 0.5 * (f_a + f_b).detach()
        terms = nsn2n_loss(f_a, f_b, f_mid, x_a, x_b, weight, cfg.lambda_rc, cfg.lambda_ic)
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


def training_events(
    trainer: Trainer,
    control: RunControl | None = None,
    preview_index: int | Callable[[], int] | None = None,
    preview_every: int = 0,
    to_units: Callable[[np.ndarray], np.ndarray] = lambda a: a,
) -> Iterator[TrainingStarted | TrainStep | EpochEnd | Recovered | Preview]:
    """Train for ``trainer.epochs`` epochs, yielding a ``TrainStep`` per step, an ``EpochEnd`` per
    epoch, a ``Recovered`` after a step whose loss exploded (the run goes on from restored
    weights) and, every ``preview_every`` steps, a ``Preview`` of slice ``preview_index`` (an index
    or a callable returning one, e.g. the slice the viewer shows). Ends early when ``control``
    stops."""
    control = control or RunControl()
    yield TrainingStarted(
        total_steps=trainer.total_steps,
        epochs=trainer.epochs,
        steps_per_epoch=trainer.steps_per_epoch,
        n_pairs=len(trainer.sampler.pair_starts),
        device=str(trainer.device),
    )
    start, step = time.perf_counter(), 0
    trainer.model.train()
    for epoch in range(trainer.epochs):
        lr, losses = trainer.learning_rate(epoch), []
        for batch in trainer.sampler.epoch():
            control.wait_while_paused()
            if control.stopped:
                return
            step_lr = lr * trainer.guard.lr_scale  # before a rollback in this step halves it
            total, recon, rc, ic = trainer.step(batch, lr)
            step += 1
            losses.append(total)
            yield TrainStep(
                step,
                trainer.total_steps,
                epoch + 1,
                total,
                recon,
                rc,
                ic,
                step_lr,
                time.perf_counter() - start,
            )
            if trainer.last_recovery is not None:
                yield trainer.last_recovery
            if preview_every and preview_index is not None and step % preview_every == 0:
                index = preview_index() if callable(preview_index) else preview_index
                image = trainer.predict(trainer.slices[index : index + 1])[0]
                yield Preview(step=step, index=index, image=to_units(image))
        yield EpochEnd(
            epoch + 1, trainer.epochs, float(np.mean(losses)), time.perf_counter() - start
        )
