"""Training stages: one optimisation step each, with their own state.

A stage owns its networks, optimizers and losses; the :class:`Trainer` owns
data, schedule, EMA, logging and checkpoints.

- :class:`SRResNetStage`: pixel (and optionally VGG) content loss only.
- :class:`SRGANStage`: the paper's adversarial training (Sec. 2.2, 3.2): a D
  step on real/fake with the fake detached, then a G step on content loss +
  ``adversarial_weight`` * -log D(G(z)) (+ ``feature_matching_weight`` * the L1
  distance between D's features of G(z) and of x, when set).
"""
from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from ..losses import (VGGLoss, adversarial_g_loss, block_loss, chroma_loss, discriminator_loss, feature_matching_loss, lattice_loss, load_vgg19_weights, pixel_loss,
                      shift_equivariance_loss, window_lr)
from .config import TrainConfig

__all__ = ["Stage", "SRResNetStage", "SRGANStage", "ContentLoss"]


class ContentLoss(nn.Module):
    """pixel_weight * pixel loss + vgg_weight * VGG feature loss + lattice_weight * lattice
    loss + block_weight * block loss + chroma_weight * chroma loss (terms with weight 0 are skipped)."""

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__()
        c = cfg.loss
        self.pixel = pixel_loss(c.pixel) if c.pixel_weight > 0 else None
        self.pixel_weight, self.vgg_weight = c.pixel_weight, c.vgg_weight
        self.lattice_weight, self.lattice_window, self.period = c.lattice_weight, c.lattice_window, cfg.model.scale
        self.block_weight, self.chroma_weight = c.block_weight, c.chroma_weight
        self.vgg = VGGLoss(c.vgg_layer, load_vgg19_weights(c.vgg_weights), c.vgg_rescale) if c.vgg_weight > 0 else None

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        parts: dict[str, torch.Tensor] = {}
        total = sr.new_zeros(())
        if self.pixel is not None:
            parts["loss_pixel"] = self.pixel(sr.float(), hr.float())
            total = total + self.pixel_weight * parts["loss_pixel"]
        if self.vgg is not None:
            parts["loss_vgg"] = self.vgg(sr, hr)
            total = total + self.vgg_weight * parts["loss_vgg"].float()
        if self.lattice_weight > 0:
            parts["loss_lattice"] = lattice_loss(sr, hr, self.period, self.lattice_window)
            total = total + self.lattice_weight * parts["loss_lattice"]
        if self.block_weight > 0:
            parts["loss_block"] = block_loss(sr, hr, self.period)
            total = total + self.block_weight * parts["loss_block"]
        if self.chroma_weight > 0:
            parts["loss_chroma"] = chroma_loss(sr, hr)
            total = total + self.chroma_weight * parts["loss_chroma"]
        return total, parts


class Stage:
    """Base: holds networks and optimizers; AMP and grad clipping helpers."""

    generator: nn.Module
    optimizers: dict[str, torch.optim.Optimizer]
    base_lrs: dict[str, float]  # the schedule multiplies these

    def __init__(self, cfg: TrainConfig, device: torch.device) -> None:
        self.device = device
        self.grad_clip = cfg.optim.grad_clip
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp)
        self.scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp == "fp16")
        self.scale, self.loss_cfg = cfg.model.scale, cfg.loss  # its shift_* settings
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format

    def generate(self, lr: torch.Tensor, hr: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """G(lr) and, with ``shift_weight``, the shift-equivariance loss ``loss_shift``.

        For the first ``shift_samples`` crops, two windows of the HR crop, one scale smaller, are
        taken: one at (0, 0) and one moved by a random sub-pixel offset (not a multiple of the
        scale). Their LRs go through G together in a second call, so that BatchNorm sees one batch
        for both, and the loss compares the outputs over their whole overlap, borders included."""
        sr = self.generator(lr)
        if not self.loss_cfg.shift_weight:
            return sr, {}
        n = self.loss_cfg.shift_samples or max(1, len(lr) // 2)
        s = self.scale  # one of the s*s - 1 offsets in [0, s)^2 other than (0, 0), uniformly
        shifts = [(k // s, k % s) for k in torch.randint(1, s * s, (n,)).tolist()]
        pairs = window_lr(torch.cat([hr[:n], hr[:n]]), [(0, 0)] * n + shifts, s)
        out = self.generator(pairs.contiguous(memory_format=self.memory_format))
        return sr, {"loss_shift": shift_equivariance_loss(out[:n], out[n:], shifts, self.loss_cfg.shift_margin, self.loss_cfg.shift_norm)}

    def add_shift(self, loss: torch.Tensor, parts: dict[str, torch.Tensor], shift: dict[str, torch.Tensor]) -> torch.Tensor:
        """``loss`` plus ``shift_weight`` times the ``loss_shift`` that :meth:`generate` returned (if any),
        which is also logged in ``parts``."""
        if not shift:
            return loss
        parts.update(shift)
        return loss + self.loss_cfg.shift_weight * shift["loss_shift"]

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _step(self, loss: torch.Tensor, opt: torch.optim.Optimizer, params) -> None:
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.grad_clip:
            self.scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
        self.scaler.step(opt)

    def train_step(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator}

    def state_dict(self) -> dict[str, Any]:
        state = {k: _unwrap(m).state_dict() for k, m in self.modules().items()}
        state.update({f"optim_{k}": o.state_dict() for k, o in self.optimizers.items()})
        state["scaler"] = self.scaler.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, m in self.modules().items():
            _unwrap(m).load_state_dict(state[k])
        for k, o in self.optimizers.items():
            o.load_state_dict(state[f"optim_{k}"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])


def _unwrap(m: nn.Module) -> nn.Module:
    m = getattr(m, "_orig_mod", m)  # torch.compile
    return getattr(m, "module", m)  # DistributedDataParallel


def _adam(params, lr: float, cfg: TrainConfig) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.optim.betas), weight_decay=cfg.optim.weight_decay)


class SRResNetStage(Stage):
    """Content-loss training of the generator: the paper's SRResNet (MSE) stage."""

    def __init__(self, generator: nn.Module, cfg: TrainConfig, device: torch.device, content: ContentLoss | None = None) -> None:
        super().__init__(cfg, device)
        self.generator = generator
        self.content = (content or ContentLoss(cfg)).to(device)
        self.base_lrs = {"g": cfg.optim.lr}
        self.optimizers = {"g": _adam(generator.parameters(), cfg.optim.lr, cfg)}

    def train_step(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        with self.autocast():
            sr, shift = self.generate(lr, hr)
            loss, parts = self.content(sr, hr)
            loss = self.add_shift(loss, parts, shift)
        self._step(loss, self.optimizers["g"], self.generator.parameters())
        self.scaler.update()
        return {"loss_g": loss.detach(), **{k: v.detach() for k, v in parts.items()}}


class SRGANStage(Stage):
    """Adversarial training (Ledig et al. 2017, Eq. 3): l_SR = content + adversarial_weight * l_Gen."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, cfg: TrainConfig, device: torch.device, content: ContentLoss | None = None) -> None:
        super().__init__(cfg, device)
        self.generator, self.discriminator = generator, discriminator
        self.content = (content or ContentLoss(cfg)).to(device)
        self.adv_weight = cfg.loss.adversarial_weight
        self.fm_weight = cfg.loss.feature_matching_weight
        self.shift = cfg.d_random_shift
        # what a d_step hands to the g_step of the same batch: D's crop offsets and D(x)'s features
        self._pending: tuple[list[list[int]] | None, list[torch.Tensor] | None] | None = None
        self.base_lrs = {"g": cfg.optim.lr, "d": cfg.d_lr or cfg.optim.lr}
        self.optimizers = {k: _adam(m.parameters(), self.base_lrs[k], cfg) for k, m in (("g", generator), ("d", discriminator))}

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def _draw_offsets(self, n: int) -> list[list[int]] | None:
        return torch.randint(0, self.shift + 1, (n, 2)).tolist() if self.shift else None

    def _crop(self, x: torch.Tensor, offsets: list[list[int]] | None) -> torch.Tensor:
        """``x`` cropped by ``shift`` px at a per-sample offset (the same offsets for the SR and HR
        of a pair). D's strided convs give its input gradient a fixed period-2/4/8/16 structure; a
        random phase stops G from accumulating it as a grid on its x4 output lattice."""
        if offsets is None:
            return x
        h, w = x.shape[2] - self.shift, x.shape[3] - self.shift
        return torch.stack([x[i, :, a : a + h, b : b + w] for i, (a, b) in enumerate(offsets)])

    def d_step(self, sr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        """(1) D: maximise log D(x) + log(1 - D(G(z))), with G(z) detached."""
        d = self.discriminator
        offsets = self._draw_offsets(len(sr))
        sr, hr = self._crop(sr, offsets), self._crop(hr, offsets)
        real_feats = None
        with self.autocast():
            if self.fm_weight > 0:  # D(x)'s features, kept (detached) as the G step's targets, as in pix2pixHD
                real_logits, feats = d(hr, features=True)
                real_feats = [f.detach() for f in feats]
            else:
                real_logits = d(hr)
            fake_logits = d(sr.detach())
            loss_d = discriminator_loss(real_logits.float(), fake_logits.float())
        self._step(loss_d, self.optimizers["d"], d.parameters())
        self._pending = (offsets, real_feats)
        return {
            "loss_d": loss_d.detach(),
            "d_real": torch.sigmoid(real_logits.detach().float()).mean(),  # D(x), as logged in the spec's code
            "d_fake": torch.sigmoid(fake_logits.detach().float()).mean(),  # D(G(z))
        }

    def g_step(self, sr: torch.Tensor, hr: torch.Tensor, shift: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """(2) G: minimise content + adversarial_weight * -log D(G(z)) (+ the shift term that
        :meth:`generate` returned with ``sr``); D is frozen for this pass."""
        d = self.discriminator
        d.requires_grad_(False)
        try:
            # after a d_step on this batch: its offsets and D(x) features; on its own: fresh ones
            offsets, real_feats = self._pending or (self._draw_offsets(len(sr)), None)
            self._pending = None
            with self.autocast():
                sr_d = self._crop(sr, offsets)
                if self.fm_weight > 0:
                    fake_logits, fake_feats = d(sr_d, features=True)
                    if real_feats is None:  # targets from the current D
                        with torch.no_grad():
                            real_feats = d(self._crop(hr, offsets), features=True)[1]
                else:
                    fake_logits = d(sr_d)
                adv = adversarial_g_loss(fake_logits.float())
                content, parts = self.content(sr, hr)
                if self.fm_weight > 0:
                    parts["loss_fm"] = feature_matching_loss(fake_feats, real_feats)
                    content = content + self.fm_weight * parts["loss_fm"]
                content = self.add_shift(content, parts, shift or {})
                loss_g = content + self.adv_weight * adv
            self._step(loss_g, self.optimizers["g"], self.generator.parameters())
        finally:
            d.requires_grad_(True)
        return {"loss_g": loss_g.detach(), "loss_adv": adv.detach(), **{k: v.detach() for k, v in parts.items()}}

    def train_step(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        with self.autocast():
            sr, shift = self.generate(lr, hr)
        out = self.d_step(sr, hr)
        out.update(self.g_step(sr, hr, shift))
        self.scaler.update()
        return out
