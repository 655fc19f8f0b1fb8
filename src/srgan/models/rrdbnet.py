"""ESRGAN's RRDBNet (Wang et al., "ESRGAN", ECCVW 2018, Sec. 3.1, Fig. 4).

No BatchNorm; Residual-in-Residual Dense Blocks, each three dense blocks of five 3x3 convs with
LeakyReLU(0.2), every residual scaled by ``beta = 0.2``; upsampling by nearest-neighbour
interpolation + conv, twice. Parameter names follow BasicSR/Real-ESRGAN, so their x4 weights
(``RealESRGAN_x4plus``, ``ESRGAN_x4``) load as they are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ResidualDenseBlock", "RRDB", "RRDBNet", "receptive_radius"]


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs; output ``x + beta * conv5(...)`` (ESRGAN Fig. 4)."""

    def __init__(self, channels: int = 64, growth: int = 32, beta: float = 0.2) -> None:
        super().__init__()
        for i in range(4):
            setattr(self, f"conv{i + 1}", nn.Conv2d(channels + i * growth, growth, 3, padding=1))
        self.conv5 = nn.Conv2d(channels + 4 * growth, channels, 3, padding=1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        self.beta = beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i in range(4):
            feats.append(self.lrelu(getattr(self, f"conv{i + 1}")(torch.cat(feats, 1))))
        return x + self.beta * self.conv5(torch.cat(feats, 1))


class RRDB(nn.Module):
    """Three :class:`ResidualDenseBlock` in sequence, with a scaled outer residual."""

    def __init__(self, channels: int = 64, growth: int = 32, beta: float = 0.2) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(channels, growth, beta)
        self.rdb2 = ResidualDenseBlock(channels, growth, beta)
        self.rdb3 = ResidualDenseBlock(channels, growth, beta)
        self.beta = beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.beta * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(nn.Module):
    """x4 RRDBNet: conv, ``num_blocks`` RRDBs, conv + global skip, 2 x (nearest x2, conv,
    LeakyReLU), conv, LeakyReLU, conv. The paper's model has 23 blocks, 64 channels, growth 32."""

    arch = "rrdbnet"

    def __init__(
        self,
        scale: int = 4,
        num_blocks: int = 23,
        channels: int = 64,
        growth_channels: int = 32,
        residual_scale: float = 0.2,
    ) -> None:
        super().__init__()
        if scale != 4:
            raise ValueError(f"rrdbnet supports scale 4, got {scale}")
        if num_blocks < 1 or channels < 1 or growth_channels < 1:
            raise ValueError("rrdbnet: num_blocks, channels and growth_channels must be >= 1")
        self.scale, self.num_blocks, self.channels = scale, num_blocks, channels
        self.hparams = {
            "scale": scale,
            "num_blocks": num_blocks,
            "channels": channels,
            "growth_channels": growth_channels,
            "residual_scale": residual_scale,
        }
        self.conv_first = nn.Conv2d(3, channels, 3, padding=1)
        self.body = nn.Sequential(*[RRDB(channels, growth_channels, residual_scale) for _ in range(num_blocks)])
        self.conv_body = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_up1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_up2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_hr = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_last = nn.Conv2d(channels, 3, 3, padding=1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))


def receptive_radius(model: RRDBNet) -> int:
    """LR pixels of context: 1 + 15 per RRDB + 1 at LR; four 3x3 convs at x2/x4 (under 2 LR px); +1 margin."""
    return 15 * model.num_blocks + 2 + 2 + 1
