"""An exact, faster form of the generator for inference.

Trunk: eval-mode BatchNorm folded into the preceding convs (w' = w * gamma / sqrt(var + eps),
b' = (b - mean) * gamma / sqrt(var + eps) + beta) and the residual sum done in place, which
removes two full passes over the activations per block and halves the live tensors.

Tail: the single-slope PReLU commutes with the last PixelShuffle(2), and the 9x9 conv after
the shuffle is rewritten as a 5x5 conv (256 -> 12) before it (:mod:`srgan.models.shuffled_conv`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .generator import Generator, ResidualBlock
from .shuffled_conv import OUT_MULTIPLE, shuffled_conv_bias, shuffled_conv_weight, shuffled_kernel_size

__all__ = ["fold_batchnorm", "FixedSlopeReLU", "FoldedBlock", "FusedTail", "FastGenerator"]


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


class FixedSlopeReLU(nn.Module):
    """A single-slope PReLU frozen for inference: ``leaky_relu`` in place with the slope as a number.
    The same function; it writes into its (fresh) input instead of allocating an output, which on
    the CPU saves a pass over memory and, for tensors above the allocator's mmap threshold (the
    256-channel map at 2x resolution), the page faults of a new buffer."""

    def __init__(self, prelu: nn.PReLU) -> None:
        super().__init__()
        if prelu.weight.numel() != 1:
            raise ValueError("FixedSlopeReLU needs a single-slope PReLU")
        self.slope = float(prelu.weight.detach().reshape(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:  # autograd's in-place leaky_relu wants slope >= 0
            return F.leaky_relu(x, self.slope)
        return F.leaky_relu_(x, self.slope)


def _freeze(act: nn.Module) -> nn.Module:
    return FixedSlopeReLU(act) if isinstance(act, nn.PReLU) and act.weight.numel() == 1 else act


class FoldedBlock(nn.Module):
    """A :class:`~srgan.models.generator.ResidualBlock` with both BNs folded; inference only."""

    def __init__(self, block: ResidualBlock) -> None:
        super().__init__()
        self.conv1, self.prelu = fold_batchnorm(block.conv1, block.bn1), _freeze(block.prelu)
        self.conv2 = fold_batchnorm(block.conv2, block.bn2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.prelu(self.conv1(x))).add_(x)


class FusedTail(nn.Module):
    """``upsample[:-1]`` -> last conv (64 -> 256) -> PReLU -> 5x5 conv (256 -> 12, padded to 16
    zero filters that are dropped) -> PixelShuffle(2)."""

    def __init__(self, g: Generator, out_multiple: int = OUT_MULTIPLE) -> None:
        super().__init__()
        last = g.upsample[-1]
        if last.prelu.weight.numel() != 1:
            raise ValueError("fusing needs a single-slope PReLU (it must commute with PixelShuffle)")
        self.head_ups = nn.Sequential(*[nn.Sequential(b.conv, b.shuffle, _freeze(b.prelu)) for b in g.upsample[:-1]])
        self.conv = last.conv
        self.prelu = _freeze(last.prelu)
        w = g.tail.weight.detach()  # (3, 64, 9, 9)
        c_out, c_in = w.shape[:2]
        k = shuffled_kernel_size(w.shape[-1], 2)
        weight = shuffled_conv_weight(w, 2, out_multiple)
        self.fused = nn.Conv2d(c_in * 4, weight.shape[0], k, padding=k // 2)
        self.fused.weight.data.copy_(weight)
        self.fused.bias.data.copy_(shuffled_conv_bias(g.tail.bias.detach(), 2, out_multiple))
        self.keep = c_out * 4
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.fused(self.prelu(self.conv(self.head_ups(f))))[:, : self.keep])


class FastGenerator(Generator):
    """Inference-only snapshot of a :class:`Generator`: BN folded into the trunk's convs
    (:class:`FoldedBlock`), :class:`FusedTail`, and single-slope PReLUs as in-place
    :class:`FixedSlopeReLU`. Same outputs up to float rounding, same
    receptive field. Later changes to ``g`` are not seen."""

    def __init__(self, g: Generator) -> None:
        nn.Module.__init__(self)
        self.scale, self.num_blocks, self.channels, self.hparams = g.scale, g.num_blocks, g.channels, g.hparams
        self.head = nn.Sequential(g.head[0], _freeze(g.head[1]))
        self.upsample = g.upsample  # for tile_radii; the forward runs the fused tail
        self.body = nn.Sequential(*[FoldedBlock(b) for b in g.body])
        self.body_end = fold_batchnorm(*g.body_end)
        self.fast_tail = FusedTail(g)
        self.eval()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        return self.body_end(self.body(h)).add_(h)

    def reconstruct(self, f: torch.Tensor) -> torch.Tensor:
        return self.fast_tail(f)
