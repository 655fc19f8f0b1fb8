"""Training stages: one optimisation step each, with their own state.

A stage owns its networks, optimizers and losses; the :class:`Trainer` owns
data, schedule, EMA, logging and checkpoints. The SRGAN stage plugs in as a
second implementation of the same small interface.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..losses import pixel_loss
from .config import TrainConfig

__all__ = ["Stage", "SRResNetStage"]


class Stage:
    generator: nn.Module
    optimizers: dict[str, torch.optim.Optimizer]

    def train_step(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.state_dict(), **{f"optim_{k}": o.state_dict() for k, o in self.optimizers.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        for k, o in self.optimizers.items():
            o.load_state_dict(state[f"optim_{k}"])


class SRResNetStage(Stage):
    """Pixel-loss (MSE or L1) training of the generator: the paper's SRResNet."""

    def __init__(self, generator: nn.Module, cfg: TrainConfig) -> None:
        self.generator = generator
        o = cfg.optim
        self.optimizers = {"g": torch.optim.Adam(generator.parameters(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)}
        self.loss = pixel_loss(cfg.loss.pixel)
        self.weight = cfg.loss.pixel_weight
        self.grad_clip = o.grad_clip

    def train_step(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
        opt = self.optimizers["g"]
        opt.zero_grad(set_to_none=True)
        sr = self.generator(lr)
        loss = self.weight * self.loss(sr, hr)
        loss.backward()
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.generator.parameters(), self.grad_clip)
        opt.step()
        return {"loss_g": loss.detach()}
