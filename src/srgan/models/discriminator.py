"""SRGAN discriminator (Ledig et al., CVPR 2017, Fig. 4, bottom; the spec's layout)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Discriminator"]


class Discriminator(nn.Module):
    """Eight 3x3 conv stages (64,64,128,128,256,256,512,512; stride 2 on the
    even stages), BN on all but the first, LeakyReLU(0.2); then global average
    pooling and a 1x1-conv head 512 -> 1024 -> 1.

    Works for any input size >= 16 px and returns raw logits of shape (N,):
    apply the sigmoid inside ``BCEWithLogitsLoss`` for numerical stability.

    ``patch=True`` (not the paper's) skips the pooling: the same head judges each cell of the
    last 1/16-resolution map (a PatchGAN, Isola et al. 2017), so the logits are (N * H/16 * W/16,)
    and each judges a local window rather than the whole crop. Same parameters.
    """

    def __init__(
        self, in_channels: int = 3, base_channels: int = 64, negative_slope: float = 0.2, patch: bool = False
    ) -> None:
        super().__init__()
        widths = [base_channels * m for m in (1, 1, 2, 2, 4, 4, 8, 8)]
        layers: list[nn.Module] = []
        prev = in_channels
        for i, width in enumerate(widths):
            stride = 2 if i % 2 == 1 else 1
            layers.append(nn.Conv2d(prev, width, 3, stride=stride, padding=1))
            if i > 0:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(negative_slope))
            prev = width
        layers += [
            nn.Identity() if patch else nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(prev, prev * 2, 1),
            nn.LeakyReLU(negative_slope),
            nn.Conv2d(prev * 2, 1, 1),
        ]
        self.net = nn.Sequential(*layers)

    def forward(
        self, x: torch.Tensor, features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits; with ``features=True`` also the activation after each of the eight conv
        stages (for feature matching). A keyword, so that DDP wrappers pass it through."""
        if not features:
            return self.net(x).flatten()
        feats: list[torch.Tensor] = []
        for m in self.net:
            x = m(x)
            if isinstance(m, nn.LeakyReLU) and len(feats) < 8:
                feats.append(x)
        return x.flatten(), feats
