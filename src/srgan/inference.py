"""Running a generator on whole images: exact overlap tiling, devices, dtype.

A tile is processed with ``pad`` LR pixels of real context on each side; when
``pad`` is at least the network's receptive-field radius the tiled output is
identical (up to float rounding) to the untiled one.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .models import Generator

__all__ = ["receptive_radius", "resolve_device", "upscale_tensor", "upscale_array"]


def receptive_radius(model: nn.Module) -> int:
    """Receptive-field radius of a :class:`Generator` in LR pixels (rounded up)."""
    if not isinstance(model, Generator):
        return 48
    r = 4 + 2 * model.num_blocks + 1  # head 9x9, two 3x3 per block, body_end 3x3
    r += sum(1 / 2**i for i in range(len(model.upsample)))  # 3x3 conv at 1x, 2x, 4x...
    r += 4 / model.scale  # 9x9 output conv at HR resolution
    return math.ceil(r)


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda requested but CUDA is not available")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError("--device mps requested but MPS is not available")
    return torch.device(device)


@torch.inference_mode()
def upscale_tensor(model: nn.Module, x: torch.Tensor, scale: int, tile: int | None = 256, pad: int | None = None) -> torch.Tensor:
    """Upscale a (N, 3, H, W) float tensor in [0, 1]; returns it clamped to [0, 1].

    ``tile`` is the tile side in LR pixels (None or 0: whole image at once).
    """
    n, c, h, w = x.shape
    if pad is None:
        pad = receptive_radius(model)
    if not tile or (h <= tile and w <= tile):
        return model(x).clamp_(0, 1)
    out = torch.empty((n, c, h * scale, w * scale), dtype=x.dtype, device=x.device)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            ya, xa = max(y0 - pad, 0), max(x0 - pad, 0)
            yb, xb = min(y1 + pad, h), min(x1 + pad, w)
            sr = model(x[:, :, ya:yb, xa:xb])
            oy, ox = (y0 - ya) * scale, (x0 - xa) * scale
            out[:, :, y0 * scale : y1 * scale, x0 * scale : x1 * scale] = sr[:, :, oy : oy + (y1 - y0) * scale, ox : ox + (x1 - x0) * scale]
    return out.clamp_(0, 1)


def upscale_array(model: nn.Module, img: np.ndarray, scale: int, tile: int | None = 256, device: torch.device | str = "cpu", channels_last: bool = True) -> np.ndarray:
    """Upscale an HxWx3 (or HxW) uint8 array; returns float32 HxWx3 in [0, 1]."""
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div_(255.0)[None].to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = upscale_tensor(model, x, scale, tile)
    return y[0].permute(1, 2, 0).float().cpu().numpy()
