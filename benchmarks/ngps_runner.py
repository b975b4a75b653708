"""NGPS (Cho & Yoo, ECCV 2026) and its NS-N2N-style baseline, run from a checkout of its
reference code (github.com/cv-cho/NGPS, MIT) as it is: its NAFNet, guide, patch sampler,
losses and optimiser. Nothing of it is copied here; the checkout's path is an argument.

Training follows its ``scripts/train_ngps.py`` / ``train_nsn2n.py``: random centre slices with
both neighbours, random crops (``crop``), AdamW (lr 2e-4, weight decay 1e-5), batch 4, on the
[0, 1]-normalised stack; inference is the plain forward pass, clipped to [0, 1] as its
``infer_volume.py`` does. Options (``ngps[width=16,crop=64]``): ``width`` (NAFNet width, 32 in
its config), ``crop``, ``search`` (search window, 15), ``patch`` (7), ``topk`` (4), ``batch``,
``lr`` (2e-4), ``tau`` (the guide difference above which a pixel is dynamic, 0.05),
``backbone="unet"`` (its objective on napari-nsn2n's U-Net, 16 channels, instead of NAFNet: the
same network as ours, so the two objectives are compared at the same step cost).
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

import numpy as np
import torch

DEFAULT_EPOCHS = 10  # its configs' training.epochs
CALIBRATION_STEPS = 3  # timed steps that set the step count of a seconds budget


def _import(checkout: str):
    if checkout not in sys.path:
        sys.path.insert(0, checkout)
    import ngps  # noqa: F401  (the checkout's package)
    from ngps import NeighborGuidedPatchSampler, NGPSHybridLoss, NSN2NLoss, build_nafnet
    from ngps.config import NGPSConfig
    from ngps.guide import guide_filter_volume, make_misalignment_mask

    return (
        NGPSConfig,
        build_nafnet,
        NeighborGuidedPatchSampler,
        NGPSHybridLoss,
        NSN2NLoss,
        guide_filter_volume,
        make_misalignment_mask,
    )


def train_and_denoise(
    checkout: str,
    slices: np.ndarray,
    objective: str,
    budget,
    seed: int,
    threads: int,
    width: int = 32,
    crop: int = 256,
    search: int = 15,
    patch: int = 7,
    topk: int = 4,
    batch: int = 4,
    lr: float = 2e-4,
    tau: float = 0.05,
    backbone: str = "nafnet",
) -> tuple[np.ndarray, dict]:
    """Train on the (M, H, W) [0, 1] ``slices`` and return them denoised, with run info."""
    (
        NGPSConfig,
        build_nafnet,
        Sampler,
        HybridLoss,
        NSN2NLoss,
        guide_filter_volume,
        misalignment,
    ) = _import(checkout)
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cfg = replace(
        NGPSConfig(),
        nafnet_width=width,
        search_window=search,
        patch_size=patch,
        topk=topk,
        mask_threshold=tau,
    )
    raw = np.clip(slices, 0.0, 1.0).astype(np.float32)
    guide = guide_filter_volume(raw, cfg)
    if backbone == "unet":
        from napari_nsn2n.method.unet import UNet

        model = UNet(base_channels=16)
    else:
        model = build_nafnet(cfg)
    sampler = Sampler(cfg).eval()
    hybrid, masked = HybridLoss(lambda_rc=cfg.rc_weight), NSN2NLoss(lambda_rc=cfg.rc_weight)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-5)
    depth, height, width_px = raw.shape
    side_h, side_w = min(crop, height), min(crop, width_px)

    def batch_tensors():
        zs = rng.integers(1, depth - 1, batch)
        tops = rng.integers(0, height - side_h + 1, batch)
        lefts = rng.integers(0, width_px - side_w + 1, batch)
        out = []
        for source, dz in ((raw, 0), (raw, -1), (raw, 1), (guide, 0), (guide, -1), (guide, 1)):
            crops = [
                source[z + dz, t : t + side_h, c : c + side_w]
                for z, t, c in zip(zs, tops, lefts, strict=True)
            ]
            out.append(torch.from_numpy(np.stack(crops)[:, None].copy()))
        return out

    def step():
        rc, rp, rn, gc, gp, gn = batch_tensors()
        if objective == "ngps":
            with torch.no_grad():
                targets = sampler(gc, gp, gn, rp, rn)
            loss = hybrid(
                model(rc),
                rp,
                rn,
                targets.target_prev,
                targets.target_next,
                targets.mask_prev,
                targets.mask_next,
                model(rp),
                model(rn),
            )
        else:
            mp = misalignment(gc, gp, cfg.mask_threshold)
            mn = misalignment(gc, gn, cfg.mask_threshold)
            loss = masked(model, rc, rp, rn, mp, mn)
        optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        optimizer.step()

    model.train()
    untimed = 0  # steps made before the run proper: the seconds budget's calibration
    if budget.kind == "steps":
        steps = int(budget.value)
    elif budget.kind == "seconds":
        step()  # the first step is slower (allocation, first use of the kernels): not timed
        t0 = time.perf_counter()
        for _ in range(CALIBRATION_STEPS):
            step()
        per_step = (time.perf_counter() - t0) / CALIBRATION_STEPS
        untimed = CALIBRATION_STEPS + 1
        steps = max(0, int(budget.value / per_step) - untimed)
    else:  # its config: 10 epochs over the centre slices
        steps = DEFAULT_EPOCHS * -(-(depth - 2) // batch)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    train_seconds = time.perf_counter() - start
    model.eval()
    out = np.empty_like(raw)
    with torch.no_grad():
        for z in range(depth):
            pred = model(torch.from_numpy(raw[z][None, None].copy()))
            out[z] = np.clip(pred[0, 0].numpy(), 0.0, 1.0)
    guides = torch.from_numpy(guide)
    info = {
        "steps": steps + untimed,
        "train_seconds": round(train_seconds, 1),
        "backbone": backbone,
        "nafnet_width": width if backbone == "nafnet" else None,
        "crop": side_h,
        "search": search,
        "patch": patch,
        "topk": topk,
        "lr": lr,
        "tau": tau,
        # NGPS's dynamic pixels over all neighbour pairs, by its own mask (guided targets for
        # ``ngps``, left out for ``ngps_nsn2n``)
        "dynamic_fraction": round(float(misalignment(guides[1:], guides[:-1], tau).mean()), 4),
    }
    return out, info
