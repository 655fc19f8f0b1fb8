"""BasicSR's MSRResNet (Wang et al., ESRGAN 2018, Sec. 4.1: SRResNet without BatchNorm).

conv + LeakyReLU(0.1), ``num_blocks`` residual blocks (conv-ReLU-conv, no BN), PixelShuffle
upsampling with LeakyReLU, two convs, plus the bilinearly upsampled input. Parameter names
follow BasicSR, so its ``MSRResNet_x4`` weights load as they are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MSRResNet", "ResidualBlockNoBN", "receptive_radius"]


class ResidualBlockNoBN(nn.Module):
    """x + conv2(ReLU(conv1(x)))."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x)))


class MSRResNet(nn.Module):
    """Modified SRResNet (no BN); x2, x3 (one PixelShuffle) or x4 (two x2 steps)."""

    arch = "msrresnet"

    def __init__(self, scale: int = 4, num_blocks: int = 16, channels: int = 64) -> None:
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"msrresnet: scale must be 2, 3 or 4, got {scale}")
        if num_blocks < 1 or channels < 1:
            raise ValueError("msrresnet: num_blocks and channels must be >= 1")
        self.scale, self.num_blocks, self.channels = scale, num_blocks, channels
        self.hparams = {"scale": scale, "num_blocks": num_blocks, "channels": channels}
        self.conv_first = nn.Conv2d(3, channels, 3, padding=1)
        self.body = nn.Sequential(*[ResidualBlockNoBN(channels) for _ in range(num_blocks)])
        step = 2 if scale == 4 else scale
        self.upconv1 = nn.Conv2d(channels, channels * step * step, 3, padding=1)
        if scale == 4:
            self.upconv2 = nn.Conv2d(channels, channels * 4, 3, padding=1)
        self.pixel_shuffle = nn.PixelShuffle(step)
        self.conv_hr = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_last = nn.Conv2d(channels, 3, 3, padding=1)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(self.lrelu(self.conv_first(x)))
        out = self.lrelu(self.pixel_shuffle(self.upconv1(out)))
        if self.scale == 4:
            out = self.lrelu(self.pixel_shuffle(self.upconv2(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)


def receptive_radius(model: MSRResNet) -> int:
    """LR pixels of context: 1 + 2 per block + 1 (upconv1) at LR, under 2 after it, +1 margin."""
    return 2 * model.num_blocks + 2 + 2 + 1
