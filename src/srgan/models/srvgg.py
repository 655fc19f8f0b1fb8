"""Real-ESRGAN's compact model, SRVGGNetCompact (Wang et al., Real-ESRGAN, ICCVW 2021; the
``realesr-general-x4v3`` / ``realesr-animevideov3`` networks).

A plain VGG-style body at LR resolution (3x3 conv + PReLU, ``num_blocks`` times), one conv to
``3 * scale^2`` channels, PixelShuffle, plus the nearest-neighbour upsampled input. Parameter
names follow Real-ESRGAN (``body.<i>``), so its weights load as they are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SRVGGNetCompact", "receptive_radius"]

ACTIVATIONS = ("prelu", "relu", "leakyrelu")


class SRVGGNetCompact(nn.Module):
    """conv(3 -> C), act, ``num_blocks`` x (conv(C -> C), act), conv(C -> 3 s^2), PixelShuffle(s), + nearest(x)."""

    arch = "srvgg"

    def __init__(self, scale: int = 4, num_blocks: int = 16, channels: int = 64, activation: str = "prelu") -> None:
        super().__init__()
        if scale not in (1, 2, 3, 4, 8):
            raise ValueError(f"srvgg: scale must be 1, 2, 3, 4 or 8, got {scale}")
        if num_blocks < 0 or channels < 1:
            raise ValueError("srvgg: num_blocks must be >= 0 and channels >= 1")
        if activation not in ACTIVATIONS:
            raise ValueError(f"srvgg: activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        self.scale, self.num_blocks, self.channels = scale, num_blocks, channels
        self.hparams = {"scale": scale, "num_blocks": num_blocks, "channels": channels, "activation": activation}

        def act() -> nn.Module:
            return {
                "prelu": lambda: nn.PReLU(channels),
                "relu": lambda: nn.ReLU(inplace=True),
                "leakyrelu": lambda: nn.LeakyReLU(0.1, inplace=True),
            }[activation]()

        layers: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1), act()]
        for _ in range(num_blocks):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), act()]
        layers.append(nn.Conv2d(channels, 3 * scale * scale, 3, padding=1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        return self.upsampler(out) + F.interpolate(x, scale_factor=self.scale, mode="nearest")


def receptive_radius(model: SRVGGNetCompact) -> int:
    """LR pixels of context: one per 3x3 conv (num_blocks + 2), +1 margin."""
    return model.num_blocks + 3
