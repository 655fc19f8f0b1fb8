"""leftthomas/SRGAN's generator: the code of the presentation that this project specifies.

An SRResNet with B residual blocks (5 in that repository) whose trunk ends in conv + PReLU (not
conv + BN) and whose output is ``(tanh(x) + 1) / 2``. Parameter names are that repository's
(``block1`` ... ``block8``), so its ``netG_epoch_4_*.pth`` files load as they are.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .generator import ResidualBlock, UpsampleBlock

__all__ = ["LeftthomasGenerator", "receptive_radius"]


class _Upsample(UpsampleBlock):
    """:class:`UpsampleBlock` under that repository's attribute name for the shuffle."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.pixel_shuffle = self.shuffle


class LeftthomasGenerator(nn.Module):
    """block1 (9x9 conv, PReLU), B residual blocks (block2 ...), conv + PReLU, global skip,
    log2(scale) upsampling blocks and a 9x9 conv (block8), then (tanh + 1) / 2."""

    arch = "leftthomas"

    def __init__(self, scale: int = 4, num_blocks: int = 5, channels: int = 64) -> None:
        super().__init__()
        if scale not in (2, 4, 8):
            raise ValueError(f"leftthomas: scale must be 2, 4 or 8, got {scale}")
        if num_blocks < 1 or channels < 1:
            raise ValueError("leftthomas: num_blocks and channels must be >= 1")
        self.scale, self.num_blocks, self.channels = scale, num_blocks, channels
        self.hparams = {"scale": scale, "num_blocks": num_blocks, "channels": channels}
        self.block1 = nn.Sequential(nn.Conv2d(3, channels, 9, padding=4), nn.PReLU())
        for i in range(num_blocks):
            setattr(self, f"block{i + 2}", ResidualBlock(channels))
        last = num_blocks + 2
        setattr(self, f"block{last}", nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.PReLU()))
        ups: list[nn.Module] = [_Upsample(channels) for _ in range(int(math.log2(scale)))]
        setattr(self, f"block{last + 1}", nn.Sequential(*ups, nn.Conv2d(channels, 3, 9, padding=4)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.block1(x)
        b = b1
        for i in range(self.num_blocks):
            b = getattr(self, f"block{i + 2}")(b)
        last = self.num_blocks + 2
        out = getattr(self, f"block{last + 1}")(b1 + getattr(self, f"block{last}")(b))
        return (torch.tanh(out) + 1) / 2


def receptive_radius(model: LeftthomasGenerator) -> int:
    """LR pixels of context: 4 (9x9) + 2 per block + 1 at LR; the tail's 3x3s and 9x9 (under 3); +1."""
    return 4 + 2 * model.num_blocks + 1 + 3 + 1
