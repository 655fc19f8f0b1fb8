"""SRResNet generator (Ledig et al., CVPR 2017, Fig. 4, top).

The same network is called SRResNet when trained on a pixel loss and the SRGAN
generator when trained with the perceptual loss of Eq. (3).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .activations import PReLU
from .shuffled_conv import shuffled_conv_weight

__all__ = ["ResidualBlock", "UpsampleBlock", "Generator", "receptive_radius"]


class ResidualBlock(nn.Module):
    """conv3x3 - BN - PReLU - conv3x3 - BN, plus the identity (Sec. 2.2)."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.prelu = PReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.prelu(self.bn1(self.conv1(x)))
        return x + self.bn2(self.conv2(r))


class UpsampleBlock(nn.Module):
    """conv3x3 (C -> 4C), PixelShuffle(2), PReLU: one x2 step (Shi et al. 2016)."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels * 4, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        self.prelu = PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.shuffle(self.conv(x)))


class Generator(nn.Module):
    """SRResNet: head (9x9 conv + PReLU), B residual blocks, conv-BN with a
    global skip, log2(scale) upsampling blocks and a 9x9 output conv.

    Input and output are RGB in [0, 1] (output is not clamped during training).
    ``num_blocks=16`` is the paper's default; the spec's recipe uses 5.

    ``fused_tail = True`` computes the last PReLU and the 9x9 conv before the last PixelShuffle
    (:mod:`srgan.models.shuffled_conv`): the same function and parameters, about 20% faster to
    train on a CPU (the trainer sets it, ``fused_tail`` in the config).

    ``features`` and ``reconstruct`` split it where the resolution changes, with
    :meth:`tile_radii` giving each part's context, so that inference can tile the two
    parts separately (see :mod:`srgan.inference`).
    """

    arch = "srresnet"

    def __init__(self, scale: int = 4, num_blocks: int = 16, channels: int = 64) -> None:
        super().__init__()
        if scale not in (2, 4, 8):
            raise ValueError(f"scale must be 2, 4 or 8, got {scale}")
        if num_blocks < 1 or channels < 1:
            raise ValueError(f"num_blocks and channels must be >= 1, got {num_blocks}, {channels}")
        self.scale = scale
        self.num_blocks = num_blocks
        self.channels = channels
        self.hparams = {"scale": scale, "num_blocks": num_blocks, "channels": channels}
        self.head = nn.Sequential(nn.Conv2d(3, channels, 9, padding=4), PReLU())
        self.body = nn.Sequential(*[ResidualBlock(channels) for _ in range(num_blocks)])
        self.body_end = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels))
        self.upsample = nn.Sequential(*[UpsampleBlock(channels) for _ in range(int(math.log2(scale)))])
        self.tail = nn.Conv2d(channels, 3, 9, padding=4)
        self.fused_tail = False  # a compute path, not a hyper-parameter: not saved

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """LR-resolution trunk: head, residual body and the global skip."""
        h = self.head(x)
        return h + self.body_end(self.body(h))

    def reconstruct(self, f: torch.Tensor) -> torch.Tensor:
        """Upsampling tail: trunk features -> HR image."""
        if not self.fused_tail:
            return self.tail(self.upsample(f))
        *first, last = self.upsample
        for block in first:
            f = block(f)
        f = last.prelu(last.conv(f))  # one slope: commutes with the shuffle
        w = shuffled_conv_weight(self.tail.weight, 2)
        f = F.conv2d(f, w, self.tail.bias.repeat_interleave(4), padding=w.shape[-1] // 2)
        return F.pixel_shuffle(f, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reconstruct(self.features(x))

    def tile_radii(self) -> tuple[int, int]:
        """LR pixels of context for the trunk (9x9 head, two 3x3 per block, one 3x3) and for the
        tail (3x3 convs at 1x, 2x, ... and the 9x9 at HR, plus one for sub-pixel alignment)."""
        n_up = int(math.log2(self.scale))
        tail = sum(1 / 2**i for i in range(n_up)) + 4 / self.scale
        return 4 + 2 * self.num_blocks + 1, math.ceil(tail) + 1


def receptive_radius(model: Generator) -> int:
    """LR pixels of context for an exact tile of the whole network."""
    return sum(model.tile_radii())
