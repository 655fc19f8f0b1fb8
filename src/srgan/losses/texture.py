"""A texture loss that needs no pretrained network: local Gram statistics of fixed random filters.

Ustyuzhaninov et al. (ICLR 2017, "What does it take to generate natural textures?") show that a
single layer of random filters at several scales carries enough statistics to synthesise natural
textures; EnhanceNet (Sajjadi et al., ICCV 2017, Sec. 3.3) matches Gram matrices per local patch so
that SR reproduces HR's texture where HR has it, not anywhere. This term does both with random
filters: the image is average-pooled to each scale, filtered by a fixed, seeded bank of zero-mean
unit-norm filters followed by a ReLU, and the Gram matrix of each ``window`` x ``window`` tile (in
HR pixels) of SR is compared with that of HR (L1).

:class:`GaborFilterBank` is the oriented alternative: a fixed bank of even and odd Gabor filters at
several orientations and wavelengths on luma, each with both signs, the front end of Portilla and
Simoncelli's texture statistics (IJCV 2000). Fur, grass and bark differ from blobs in exactly what
such filters measure: energy concentrated in one orientation, at a thin wavelength.

:class:`TrainedFeatureBank` uses filters that we trained ourselves, on our own images: the head and
the first residual blocks of a packaged SRResNet (frozen), whose features were learned to describe
natural LR structure for upsampling; no ImageNet weights.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "TextureBank",
    "FilterBank",
    "RandomFilterBank",
    "GaborFilterBank",
    "TrainedFeatureBank",
    "local_gram",
    "texture_loss",
]

LUMA = (0.299, 0.587, 0.114)


class TextureBank(nn.Module):
    """The texture term's front end: :meth:`respond` applied to the image average-pooled by each
    of ``scales``; subclasses choose the response."""

    def __init__(self, scales: tuple[int, ...]) -> None:
        super().__init__()
        self.scales = tuple(int(s) for s in scales)

    def respond(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """One feature map per scale, at that scale's resolution."""
        return [self.respond(F.avg_pool2d(x, s) if s > 1 else x) for s in self.scales]


class FilterBank(TextureBank):
    """Fixed (F, 3, k, k) filters, each followed by a ReLU (reflect-padded, same size); subclasses
    choose the filters."""

    def __init__(self, weight: torch.Tensor, scales: tuple[int, ...]) -> None:
        super().__init__(scales)
        self.register_buffer("weight", weight.float(), persistent=False)

    def respond(self, x: torch.Tensor) -> torch.Tensor:
        pad = self.weight.shape[-1] // 2
        return F.relu(F.conv2d(F.pad(x, (pad,) * 4, mode="reflect"), self.weight.to(x.dtype)))


class RandomFilterBank(FilterBank):
    """``filters`` fixed random ``kernel`` x ``kernel`` RGB filters (seeded, zero mean, unit L2 norm).
    Zero-mean filters answer to texture and edges, not to flat colour."""

    def __init__(self, filters: int = 32, kernel: int = 5, scales: tuple[int, ...] = (1, 2, 4), seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        w = torch.randn(filters, 3, kernel, kernel, generator=g)
        w = w - w.mean(dim=(1, 2, 3), keepdim=True)
        super().__init__(w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1), scales)


class GaborFilterBank(FilterBank):
    """Even and odd Gabor filters on luma, ``orientations`` angles x ``wavelengths`` (px), both signs
    (so that the ReLU keeps dark and bright lines apart): ``4 * orientations * len(wavelengths)``
    filters of ``kernel`` px, zero mean and unit L2 norm, at each of ``scales``. Envelope sigma is
    half the wavelength (about one octave of bandwidth)."""

    def __init__(
        self,
        orientations: int = 8,
        wavelengths: tuple[float, ...] = (3.0, 6.0),
        kernel: int = 9,
        scales: tuple[int, ...] = (1, 2, 4),
    ) -> None:
        r = torch.arange(kernel, dtype=torch.float64) - kernel // 2
        yy, xx = torch.meshgrid(r, r, indexing="ij")
        filters = []
        for lam in wavelengths:
            envelope = torch.exp(-(xx**2 + yy**2) / (2 * (lam / 2) ** 2))
            for i in range(orientations):
                theta = torch.tensor(torch.pi * i / orientations, dtype=torch.float64)
                u = xx * torch.cos(theta) + yy * torch.sin(theta)
                for phase in (torch.cos, torch.sin):
                    g = envelope * phase(2 * torch.pi * u / lam)
                    g = g - g.mean()
                    g = g / g.norm()
                    filters += [g, -g]
        luma = torch.tensor(LUMA, dtype=torch.float64)[None, :, None, None]
        super().__init__(torch.stack(filters)[:, None] * luma, scales)


class TrainedFeatureBank(TextureBank):
    """Features of a trained SRResNet: its head (9x9 conv + PReLU) and first ``depth`` residual
    blocks, frozen and in eval mode. The network was trained on LR images, so scale 4 shows it
    what it learned on and scales 1-2 apply the same filters to finer detail. ``generator`` is
    copied, not shared."""

    def __init__(self, generator: nn.Module, depth: int = 2, scales: tuple[int, ...] = (1, 2, 4)) -> None:
        super().__init__(scales)
        body = getattr(generator, "body", None)
        if body is None or not hasattr(generator, "head"):
            raise ValueError("the trained feature bank needs an SRResNet-style generator (head and body)")
        if not 0 <= depth <= len(body):
            raise ValueError(f"depth must be from 0 to the generator's {len(body)} blocks, got {depth}")
        self.net = nn.Sequential(copy.deepcopy(generator.head), *copy.deepcopy(list(body)[:depth]))
        self.net.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> TrainedFeatureBank:
        """Always eval: BatchNorm keeps the statistics it was trained with."""
        return super().train(False)

    def respond(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def local_gram(feat: torch.Tensor, window: int) -> torch.Tensor:
    """Gram matrices of the non-overlapping ``window`` x ``window`` tiles of ``feat`` (B, C, H, W),
    normalised by the tile's pixel count: (B, tiles, C, C). A partial last row/column of tiles is
    dropped."""
    b, c, h, w = feat.shape
    th, tw = h // window, w // window
    if th == 0 or tw == 0:
        raise ValueError(f"a {h}x{w} feature map is smaller than the {window} px texture window")
    t = feat[:, :, : th * window, : tw * window].float()
    t = t.reshape(b, c, th, window, tw, window).permute(0, 2, 4, 1, 3, 5).reshape(b, th * tw, c, window * window)
    return t @ t.transpose(-1, -2) / (window * window)


def texture_loss(sr: torch.Tensor, hr: torch.Tensor, bank: TextureBank, window: int) -> torch.Tensor:
    """Mean L1 distance between the local Gram matrices of SR and HR at every scale of ``bank``;
    ``window`` is in HR pixels (``window / s`` at scale ``s``, at least 4)."""
    with torch.no_grad():
        targets = bank(hr)
    total = sr.new_zeros((), dtype=torch.float32)
    for s, fs, ft in zip(bank.scales, bank(sr), targets):
        win = max(window // s, 4)
        total = total + (local_gram(fs, win) - local_gram(ft, win)).abs().mean()
    return total / len(bank.scales)
