"""An exact, faster form of the generator for inference.

Trunk: eval-mode BatchNorm folded into the preceding convs (w' = w * gamma / sqrt(var + eps),
b' = (b - mean) * gamma / sqrt(var + eps) + beta) and the residual sum done in place, which
removes two full passes over the activations per block and halves the live tensors.

Tail:

The 9x9 conv (64 -> 3) runs at full output resolution on the output of a
PixelShuffle(2) and a single-slope PReLU. PReLU with one parameter commutes with
the shuffle, and a conv after a shuffle equals a conv before it: output pixel
(2I+a, 2J+b) reads input taps dy, dx in [-4, 4], i.e. pre-shuffle pixels
I + floor((a+dy)/2) (offsets -2..2) and channels 4k + 2((a+dy) mod 2) + ((b+dx) mod 2).
So the pair becomes a 5x5 conv (256 -> 12) at half the output resolution followed
by PixelShuffle(2): 23% more multiply-adds, but a far better matrix shape than
3 output channels, and no 64-channel tensor at full resolution.
"""

from __future__ import annotations

import torch
from torch import nn

from .generator import Generator, ResidualBlock

__all__ = ["fold_batchnorm", "FoldedBlock", "FusedTail", "FastGenerator"]


@torch.no_grad()
def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """One conv equal to ``bn(conv(x))`` with BN in eval mode (its running statistics)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        bias=True,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )
    fused.weight.copy_(conv.weight * scale[:, None, None, None])
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
    return fused


class FoldedBlock(nn.Module):
    """A :class:`~srgan.models.generator.ResidualBlock` with both BNs folded; inference only."""

    def __init__(self, block: ResidualBlock) -> None:
        super().__init__()
        self.conv1, self.prelu = fold_batchnorm(block.conv1, block.bn1), block.prelu
        self.conv2 = fold_batchnorm(block.conv2, block.bn2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.prelu(self.conv1(x))).add_(x)


class FusedTail(nn.Module):
    """``upsample[:-1]`` -> last conv (64 -> 256) -> PReLU -> 5x5 conv (256 -> 12) -> PixelShuffle(2)."""

    def __init__(self, g: Generator) -> None:
        super().__init__()
        last = g.upsample[-1]
        if last.prelu.weight.numel() != 1:
            raise ValueError("fusing needs a single-slope PReLU (it must commute with PixelShuffle)")
        self.head_ups = nn.Sequential(*list(g.upsample)[:-1])
        self.conv = last.conv
        self.prelu = last.prelu
        w = g.tail.weight.detach()  # (3, 64, 9, 9)
        c_out, c_in = w.shape[:2]
        fused = torch.zeros(c_out * 4, c_in * 4, 5, 5, dtype=w.dtype)
        for a in range(2):
            for b in range(2):
                for dy in range(-4, 5):
                    ey, p = divmod(a + dy, 2)
                    for dx in range(-4, 5):
                        ex, q = divmod(b + dx, 2)
                        # out channel c*4 + a*2 + b; in channel k*4 + p*2 + q
                        fused[a * 2 + b :: 4, p * 2 + q :: 4, ey + 2, ex + 2] += w[:, :, dy + 4, dx + 4]
        self.fused = nn.Conv2d(c_in * 4, c_out * 4, 5, padding=2)
        self.fused.weight.data.copy_(fused)
        self.fused.bias.data.copy_(g.tail.bias.detach().repeat_interleave(4))
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.fused(self.prelu(self.conv(self.head_ups(f)))))


class FastGenerator(Generator):
    """Inference-only snapshot of a :class:`Generator`: BN folded into the trunk's convs
    (:class:`FoldedBlock`) and :class:`FusedTail`. Same outputs up to float rounding, same
    receptive field. Later changes to ``g`` are not seen."""

    def __init__(self, g: Generator) -> None:
        nn.Module.__init__(self)
        self.scale, self.num_blocks, self.channels, self.hparams = g.scale, g.num_blocks, g.channels, g.hparams
        self.head, self.upsample = g.head, g.upsample
        self.body = nn.Sequential(*[FoldedBlock(b) for b in g.body])
        self.body_end = fold_batchnorm(*g.body_end)
        self.fused_tail = FusedTail(g)
        self.eval()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        return self.body_end(self.body(h)).add_(h)

    def reconstruct(self, f: torch.Tensor) -> torch.Tensor:
        return self.fused_tail(f)
