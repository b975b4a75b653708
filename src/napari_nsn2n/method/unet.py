"""The denoising network f_theta: a 2D U-Net (Ronneberger et al.), as in the paper (sec. 4.1).

No batch normalisation: the output for one slice never depends on the other images in the batch,
which matters because x_i, x_{i+1} and (x_i + x_{i+1}) / 2 share one batched forward pass
(``norm=True`` adds GroupNorm, which keeps that property).

With ``residual=True`` (the default of ``TrainConfig``) the network outputs x + g(x) and the last
convolution starts at zero, so training starts from the identity (the noisy input's PSNR) and only
learns the correction (docs/method.md lists this among the deviations from the paper, with its
measured effect).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from ..config import TrainConfig


def _conv_block(in_channels: int, out_channels: int, norm: bool = False) -> nn.Sequential:
    """Two 3x3 convolutions with LeakyReLU; with ``norm`` a GroupNorm after each convolution
    (per-image statistics, so batch-mates never influence each other)."""
    layers: list[nn.Module] = []
    for channels_in in (in_channels, out_channels):
        layers.append(nn.Conv2d(channels_in, out_channels, 3, padding=1))
        if norm:
            layers.append(nn.GroupNorm(min(8, out_channels // 4), out_channels))
        layers.append(nn.LeakyReLU(0.1, inplace=True))
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """U-Net with ``depth`` down-sampling steps and ``base_channels`` at full resolution."""

    def __init__(
        self, base_channels: int = 32, depth: int = 3, residual: bool = True, norm: bool = False
    ) -> None:
        super().__init__()
        self.depth = depth
        self.residual = residual
        widths = [base_channels * 2**k for k in range(depth + 1)]
        self.encoders = nn.ModuleList(
            [_conv_block(1 if k == 0 else widths[k - 1], widths[k], norm) for k in range(depth)]
        )
        self.bottleneck = _conv_block(widths[depth - 1], widths[depth], norm)
        self.upsamplers = nn.ModuleList(
            [
                nn.ConvTranspose2d(widths[k + 1], widths[k], 2, stride=2)
                for k in reversed(range(depth))
            ]
        )
        self.decoders = nn.ModuleList(
            [_conv_block(2 * widths[k], widths[k], norm) for k in reversed(range(depth))]
        )
        self.head = nn.Conv2d(widths[0], 1, 1)
        if residual:  # start exactly at the identity: f(x) = x + 0
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    @property
    def multiple(self) -> int:
        """Height and width are padded to a multiple of this."""
        return 2**self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        pad_h, pad_w = (-height) % self.multiple, (-width) % self.multiple
        padded = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else x
        skips = []
        h = padded
        for encoder in self.encoders:
            h = encoder(h)
            skips.append(h)
            h = F.max_pool2d(h, 2)
        h = self.bottleneck(h)
        for upsample, decoder, skip in zip(
            self.upsamplers, self.decoders, reversed(skips), strict=True
        ):
            h = decoder(torch.cat([upsample(h), skip], dim=1))
        out = self.head(h)
        if self.residual:
            out = out + padded
        return out[..., :height, :width]


def build_unet(config: TrainConfig) -> UNet:
    """The U-Net that ``config`` describes (width, depth, residual output, GroupNorm)."""
    return UNet(config.base_channels, config.depth, config.residual, config.group_norm)
