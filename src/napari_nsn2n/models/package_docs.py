"""What a bioimage.io package tells a person: its README and its cover image.

The README states how the model was trained (method, threshold, every training setting, the
source stack) and how to use it; the cover shows a slice of the training stack noisy, denoised
and with its weight mask W_i, side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..figures import grey_panels

if TYPE_CHECKING:
    from .bundle import ModelBundle
    from .sample import TrainingSample

PAPER_CITATION = (
    "Zhou L., Zhou Z., Huang X., Wang H., Zhang X., Li G. Neighboring Slice Noise2Noise: "
    "Self-Supervised Medical Image Denoising from Single Noisy Image Volume. arXiv:2411.10831 "
    "(2024)."
)
PAPER_DOI = "10.48550/arXiv.2411.10831"


@dataclass(frozen=True)
class TileSizes:
    """The 2D sizes a package declares: ``minimum + n * step`` pixels along y and x, and the
    ``halo`` a tiling consumer crops from each side of an output tile."""

    minimum: int
    step: int
    halo: int


def save_cover(
    path: Path, sample: TrainingSample, denoised: np.ndarray, threshold: float | None
) -> Path:
    """PNG of slice i noisy | denoised | W_i on one grey window (the noisy slice's 0.5-99.5
    percentiles; W drawn white where 1, black where 0), each panel cropped to 2:3 so that the
    three make a cover of about 2:1, as bioimage.io asks."""
    noisy = sample.slices[0]
    height, width = noisy.shape
    panel_w, panel_h = min(width, max(1, round(height * 2 / 3))), height
    if panel_w == width:
        panel_h = min(height, max(1, round(width * 3 / 2)))
    top, left = (height - panel_h) // 2, (width - panel_w) // 2
    window = (slice(top, top + panel_h), slice(left, left + panel_w))
    lo, hi = (float(v) for v in np.percentile(noisy, (0.5, 99.5)))
    if hi <= lo:
        hi = lo + 1.0
    if sample.mask is None:
        mask, mask_label = np.ones_like(noisy), "W = 1 (trained without masks)"
    else:
        mask, mask_label = sample.mask.astype(np.float32), f"W_i (th {threshold:.3g})"
    panels = [
        (f"noisy (slice {sample.index})", noisy[window]),
        ("NS-N2N denoised", denoised[window]),
        (mask_label, lo + (hi - lo) * mask[window]),
    ]
    grey_panels(panels, (lo, hi), min_width=170).save(path)
    return path


def readme_text(
    bundle: ModelBundle, name: str, modality: str | None, sizes: TileSizes, version: str
) -> str:
    """The package's README.md."""
    normalizer, config, meta = bundle.normalizer, bundle.config, bundle.meta
    th = bundle.threshold
    th_text = (
        "none (trained without weight masks, W = 1 everywhere)"
        if th is None or not config.use_mask
        else f"{th:.6g} on the [0, 1] scale, {th * normalizer.scale:.6g} in the stack's units"
    )
    rc = f"{config.lambda_rc}" + (
        " (chosen by the noise check)" if meta.get("lambda_rc_auto") else ""
    )
    settings = "\n".join(f"| `{key}` | {value} |" for key, value in config.to_dict().items())
    shape = " x ".join(str(s) for s in meta.get("shape", [])) or "not recorded"
    sigma = meta.get("rician_sigma")
    rician = (
        f"The training run removed a Rician bias of sigma {sigma:.6g} from its own result; this "
        "package does not (it holds the network alone)."
        if sigma
        else "No Rician bias correction was applied."
    )
    return f"""# {name}

A self-supervised denoiser for 2D slices, trained with Neighboring Slice Noise2Noise (NS-N2N,
Zhou et al. 2024) by napari-nsn2n {version} on one noisy stack and nothing else: no clean images.

## Source data

- Modality: {modality or "not given at export"}
- Training stack: {shape} ({normalizer.dtype}), slice axis {meta.get("slice_axis", "?")}
- Intensity range of the training stack: [{normalizer.low:.6g}, {normalizer.high:.6g}]

## How it was trained

NS-N2N pairs every slice with its neighbour: two slices of one scan show nearly the same anatomy
with independent noise, so each is a Noise2Noise target for the other. A low-pass filter
(non-local means, then a 3x3 median) of both slices is compared pixel by pixel, and only where the
difference is at most the threshold th (the weight mask W_i, Eq. 3) does the loss ask the outputs
to match (the reconstruction loss and the regional consistency loss L_RC, weight lambda_RC); the
inter-slice continuity loss L_IC (weight lambda_IC) asks the output of the slices' average to be
the average of their outputs.

- Threshold th: {th_text}
- lambda_RC: {rc}; lambda_IC: {config.lambda_ic}
- Epochs run: {meta.get("epochs", config.epochs)}; optimiser steps: {meta.get("steps", "?")}
- Divergence rollbacks: {meta.get("recoveries", 0)}
- {rician}

Every training setting (`napari_nsn2n.TrainConfig`):

| setting | value |
| --- | --- |
{settings}

## Using the model

- Input `noisy`: one slice or a batch, axes (batch, channel, y, x), one channel, in the units of
  the training stack (e.g. HU); y and x of {sizes.minimum} + n * {sizes.step} pixels (the U-Net
  halves them {config.depth} times). Output `denoised`: the same shape and units.
- Pre-processing: scale_linear to [0, 1] with the training stack's range (the network's scale);
  post-processing: the inverse scale_linear. Applied to a stack in other units, rescale it first.
- Tiling: crop a halo of {sizes.halo} pixels from each side of an output tile (the U-Net's
  receptive field), so that tiles join without seams. Within one halo of the image border, a
  consumer that pads the image first (bioimageio.core pads symmetrically) gets slightly different
  values from napari-nsn2n, which runs the network on the slice as it is.
- Not included: test-time augmentation and the Rician bias removal of napari-nsn2n.
- In napari-nsn2n: `nsn2n denoise STACK -o OUT --model this_package.zip`, or "Load model..." in
  the napari widget; both give the same result as the model file it was exported from.

## Validation

The package's test tensors are slice {bundle.sample.index if bundle.sample else "?"} (central
crop) of the training stack and this network's output on it; bioimageio.core reproduced them
before the package was written. To validate on unseen data: denoise a scan from the same scanner
and protocol, check that the residual (noisy - denoised) holds noise and no structure, and where a
clean or high-dose reference exists, compare PSNR / SSIM against it.

## Citation

{PAPER_CITATION} https://doi.org/{PAPER_DOI}
"""
