"""U-Net discriminator with spectral normalisation (Real-ESRGAN, Wang et al., ICCVW 2021, Sec. 3.3).

A per-pixel realness map instead of one score per image: an encoder of three stride-2 convs,
a decoder of bilinear x2 upsampling and convs with skip connections, and two more convs, all
with spectral norm (Miyato et al. 2018) and LeakyReLU(0.2). Per-pixel feedback lets the
generator be judged on local texture, and spectral norm stabilises the stronger discriminator.
Inputs of any size >= 8 px (reflect-padded to a multiple of 8 inside, logits cropped back).
Returns per-pixel logits (N, 1, H, W); ``features=True`` also returns the activation after
each conv stage (for feature matching).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

__all__ = ["UNetDiscriminatorSN"]


class UNetDiscriminatorSN(nn.Module):
    """Real-ESRGAN's UNetDiscriminatorSN layout (64 base channels; ``skip_connection`` on)."""

    def __init__(self, in_channels: int = 3, base_channels: int = 64, skip_connection: bool = True) -> None:
        super().__init__()
        c = base_channels
        self.skip_connection = skip_connection
        self.conv0 = nn.Conv2d(in_channels, c, 3, padding=1)
        self.down = nn.ModuleList(
            [
                spectral_norm(nn.Conv2d(a, b, 4, 2, 1, bias=False))
                for a, b in ((c, 2 * c), (2 * c, 4 * c), (4 * c, 8 * c))
            ]
        )
        self.up = nn.ModuleList(
            [
                spectral_norm(nn.Conv2d(a, b, 3, 1, 1, bias=False))
                for a, b in ((8 * c, 4 * c), (4 * c, 2 * c), (2 * c, c))
            ]
        )
        self.extra = nn.ModuleList([spectral_norm(nn.Conv2d(c, c, 3, 1, 1, bias=False)) for _ in range(2)])
        self.out = nn.Conv2d(c, 1, 3, 1, 1)

    def forward(
        self, x: torch.Tensor, features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        h0, w0 = x.shape[-2:]
        if min(h0, w0) < 8:
            raise ValueError(f"the U-Net discriminator needs inputs of at least 8x8 px, got {h0}x{w0}")
        x = F.pad(x, (0, -w0 % 8, 0, -h0 % 8), mode="reflect")  # three x2 levels; cropped back below
        act = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
        feats = [act(self.conv0(x))]
        skips = [feats[0]]
        for conv in self.down:
            feats.append(act(conv(feats[-1])))
            skips.append(feats[-1])
        h = feats[-1]
        for i, conv in enumerate(self.up):
            h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
            h = act(conv(h))
            if self.skip_connection:
                h = h + skips[-2 - i]
            feats.append(h)
        for conv in self.extra:
            h = act(conv(h))
            feats.append(h)
        logits = self.out(h)[..., :h0, :w0]
        return (logits, feats) if features else logits
