"""Loss functions (Ledig et al. 2017, Sec. 2.2)."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["pixel_loss"]


def pixel_loss(kind: str) -> nn.Module:
    """Pixel-wise content loss: ``mse`` is the paper's l_MSE (Eq. 4); ``l1`` converges faster in PSNR."""
    if kind == "mse":
        return nn.MSELoss()
    if kind == "l1":
        return nn.L1Loss()
    raise ValueError(f"unknown pixel loss '{kind}' (use mse or l1)")
