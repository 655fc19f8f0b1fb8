"""A k x k conv after PixelShuffle(r), rewritten as a conv before it (exact, differentiable).

Output pixel (rI+a, rJ+b) of the conv reads taps dy, dx in [-k//2, k//2] of the shuffled map:
pre-shuffle pixels I + floor((a+dy)/r) and channels c*r^2 + r*((a+dy) mod r) + ((b+dx) mod r).
So ``conv_k(shuffle_r(x))`` equals ``shuffle_r(conv_k'(x))`` with a (C_out r^2, C_in r^2, k', k')
weight that is a re-indexing of the original one (zeros elsewhere): for SRResNet's 9x9 tail
after a x2 shuffle, a 5x5 conv (256 -> 12) at half resolution. More multiply-adds (23% there),
but a far better matrix shape than 3 output channels and no C-channel tensor at full resolution.
Used by inference (:class:`srgan.models.fast.FusedTail`) and by training (``Generator.fused_tail``),
where the gradient flows back to the original weight through the gather.

``out_multiple`` pads the output channels with zero filters to a multiple (the caller drops them
before the shuffle): oneDNN's AVX2 convolution blocks output channels by 16 (its weights are
laid out ``Acdb16a``), and a 256 -> 12 conv ran 1.25x slower than the same conv with 16 outputs
on an AVX2 CPU (``python benchmarks/inference.py --tail``).
"""

from __future__ import annotations

from functools import lru_cache

import torch

__all__ = ["shuffled_kernel_size", "shuffled_conv_weight", "shuffled_conv_bias", "OUT_MULTIPLE"]

OUT_MULTIPLE = 16  # output-channel block of oneDNN's AVX2 convolution


def shuffled_kernel_size(k: int, r: int) -> int:
    """Side of the pre-shuffle kernel for a k x k (odd) conv after PixelShuffle(r)."""
    half = k // 2
    lo, hi = (-half) // r, (r - 1 + half) // r
    return 2 * max(-lo, hi) + 1


def _padded(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


@lru_cache(maxsize=16)
def _gather_index(c_out: int, c_in: int, k: int, r: int, out_multiple: int = 1) -> torch.Tensor:
    """For each entry of the pre-shuffle weight, the flat index of the original weight entry it
    copies, or ``c_out*c_in*k*k`` (a zero slot) where it has none. Each entry has at most one."""
    half, kk = k // 2, shuffled_kernel_size(k, r)
    c = kk // 2
    zero = c_out * c_in * k * k
    index = torch.full((_padded(c_out * r * r, out_multiple), c_in * r * r, kk, kk), zero, dtype=torch.long)
    src = torch.arange(zero).reshape(c_out, c_in, k, k)
    for a in range(r):
        for b in range(r):
            for dy in range(-half, half + 1):
                ey, p = divmod(a + dy, r)
                for dx in range(-half, half + 1):
                    ex, q = divmod(b + dx, r)
                    # out channel o*r^2 + a*r + b reads in channel i*r^2 + p*r + q at offset (ey, ex)
                    index[a * r + b : c_out * r * r : r * r, p * r + q :: r * r, ey + c, ex + c] = src[
                        :, :, dy + half, dx + half
                    ]
    return index


def shuffled_conv_weight(weight: torch.Tensor, r: int, out_multiple: int = 1) -> torch.Tensor:
    """The pre-shuffle weight for ``weight`` (C_out, C_in, k, k); differentiable in ``weight``.
    Output channels past C_out r^2 (``out_multiple`` > 1) are zero filters."""
    c_out, c_in, k, k2 = weight.shape
    if k != k2 or k % 2 == 0:
        raise ValueError(f"needs an odd square kernel, got {k}x{k2}")
    index = _gather_index(c_out, c_in, k, r, out_multiple).to(weight.device)
    flat = torch.cat([weight.reshape(-1), weight.new_zeros(1)])
    return flat[index]


def shuffled_conv_bias(bias: torch.Tensor, r: int, out_multiple: int = 1) -> torch.Tensor:
    """The pre-shuffle bias: the original repeated r^2 times, zeros for the padding channels."""
    b = bias.repeat_interleave(r * r)
    return torch.cat([b, b.new_zeros(_padded(b.numel(), out_multiple) - b.numel())])
