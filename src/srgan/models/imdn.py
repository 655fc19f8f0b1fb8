"""IMDN, the information multi-distillation network (Hui et al., ACM MM 2019): a lightweight
SR network that does about a third of SRResNet-16's multiply-adds per output pixel.

Each block (IMDB, Sec. 3.2) runs 3x3 convs in sequence and, after each, keeps a quarter of the
channels ("distilled") and passes the rest on; the four distilled parts are concatenated,
re-weighted by contrast-aware channel attention (CCA: per-channel std + mean, a 1x1 bottleneck,
a sigmoid) and fused by a 1x1 conv, plus the block's input. The network: a 3x3 conv, ``num_blocks``
IMDBs whose outputs are concatenated and fused (1x1 conv, LeakyReLU, 3x3 conv), a long skip, and a
3x3 conv to ``3 * scale^2`` channels with PixelShuffle. LeakyReLU slope 0.05 as in the paper.

CCA's statistics are global over the image, so the output of a tile depends on the whole input:
the registry gives no receptive radius and inference runs it untiled.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["IMDN", "IMDB", "ContrastChannelAttention"]


def _act() -> nn.Module:
    return nn.LeakyReLU(0.05, inplace=True)


class ContrastChannelAttention(nn.Module):
    """CCA (Sec. 3.3): channel weights from each channel's standard deviation plus mean."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.squeeze = nn.Conv2d(channels, hidden, 1)
        self.expand = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).sqrt()
        w = torch.sigmoid(self.expand(torch.relu(self.squeeze(std + mean))))
        return x * w


class IMDB(nn.Module):
    """Information multi-distillation block: three distil-and-pass 3x3 convs, a last 3x3 conv, CCA, 1x1 fusion."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.distilled = channels // 4
        self.remaining = channels - self.distilled
        self.convs = nn.ModuleList(
            [nn.Conv2d(channels, channels, 3, padding=1)]
            + [nn.Conv2d(self.remaining, channels, 3, padding=1) for _ in range(2)]
        )
        self.last = nn.Conv2d(self.remaining, self.distilled, 3, padding=1)
        self.act = _act()
        self.attention = ContrastChannelAttention(self.distilled * 4)
        self.fuse = nn.Conv2d(self.distilled * 4, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept, rest = [], x
        for conv in self.convs:
            d, rest = torch.split(self.act(conv(rest)), (self.distilled, self.remaining), dim=1)
            kept.append(d)
        kept.append(self.last(rest))
        return self.fuse(self.attention(torch.cat(kept, dim=1))) + x


class IMDN(nn.Module):
    """IMDN with the paper's defaults: 6 IMDBs, 64 channels."""

    arch = "imdn"

    def __init__(self, scale: int = 4, num_blocks: int = 6, channels: int = 64) -> None:
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"imdn: scale must be 2, 3 or 4, got {scale}")
        if num_blocks < 1 or channels < 4 or channels % 4:
            raise ValueError(
                f"imdn: num_blocks must be >= 1 and channels a multiple of 4, got {num_blocks}, {channels}"
            )
        self.scale, self.num_blocks, self.channels = scale, num_blocks, channels
        self.hparams = {"scale": scale, "num_blocks": num_blocks, "channels": channels}
        self.head = nn.Conv2d(3, channels, 3, padding=1)
        self.blocks = nn.ModuleList([IMDB(channels) for _ in range(num_blocks)])
        self.fuse = nn.Sequential(nn.Conv2d(channels * num_blocks, channels, 1), _act())
        self.body_end = nn.Conv2d(channels, channels, 3, padding=1)
        self.upsample = nn.Sequential(nn.Conv2d(channels, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        outs, f = [], h
        for block in self.blocks:
            f = block(f)
            outs.append(f)
        return self.upsample(self.body_end(self.fuse(torch.cat(outs, dim=1))) + h)
