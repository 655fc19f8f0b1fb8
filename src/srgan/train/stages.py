"""Training stages: one optimisation step each, with their own state.

A stage owns its networks, optimizers and losses; the :class:`Trainer` owns
data, schedule, EMA, logging and checkpoints.

- :class:`SRResNetStage`: the generator alone on its content terms (the paper's MSE stage).
- :class:`SRGANStage`: the paper's adversarial training (Sec. 2.2, 3.2): a D
  step on real/fake with the fake detached, then a G step on the recipe's terms,
  among them the adversarial one, -log D(G(z)) (Eq. 6). With ``gan_order: g_first``
  the G step comes first and D's step reuses its D(G(z)) pass.

Both sum the terms that the recipe declares (:class:`~srgan.losses.Objective`).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from ..losses import LossContext, Objective
from ..losses.functional import r1_penalty
from ..losses.terms import AdversarialLoss
from .config import TrainConfig

__all__ = ["Stage", "SRResNetStage", "SRGANStage", "STAGES"]


class Stage:
    """Base: holds networks and optimizers; AMP and grad clipping helpers."""

    uses_discriminator: bool = False  # whether the trainer builds a discriminator for it
    generator: nn.Module
    optimizers: dict[str, torch.optim.Optimizer]
    base_lrs: dict[str, float]  # the schedule multiplies these

    def __init__(self, cfg: TrainConfig, device: torch.device, objective: Objective | None = None) -> None:
        self.device = device
        self.grad_clip = cfg.optim.grad_clip
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp)
        self.scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp == "fp16")
        self.scale = cfg.model.scale
        self.objective = (objective or cfg.objective()).setup().to(device)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _step(
        self, loss: torch.Tensor, opt: torch.optim.Optimizer, params, only: bool = False, keep_graph: bool = False
    ) -> None:
        """One optimizer step on ``loss``. ``only``: the backward pass computes the gradients of
        ``params`` alone; ``keep_graph``: another loss still needs the graph."""
        opt.zero_grad(set_to_none=True)
        if only:
            params = [p for p in params if p.requires_grad]
        self.scaler.scale(loss).backward(inputs=params if only else None, retain_graph=keep_graph)
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
        from .checkpoint import check_float_weights

        for k, m in self.modules().items():
            check_float_weights(_unwrap(m).state_dict(), state[k], k)
            _unwrap(m).load_state_dict(state[k])
        for k, o in self.optimizers.items():
            o.load_state_dict(state[f"optim_{k}"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])


def _unwrap(m: nn.Module) -> nn.Module:
    m = getattr(m, "_orig_mod", m)  # torch.compile
    return getattr(m, "module", m)  # DistributedDataParallel


def _d_log(loss_d: torch.Tensor, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """D's loss, and D(x) and D(G(z)) as probabilities, as the spec's code logs them."""
    return {
        "loss_d": loss_d.detach(),
        "d_real": torch.sigmoid(real_logits.detach().float()).mean(),
        "d_fake": torch.sigmoid(fake_logits.detach().float()).mean(),
    }


def _adam(params, lr: float, cfg: TrainConfig) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.optim.betas), weight_decay=cfg.optim.weight_decay)


class SRResNetStage(Stage):
    """Content-loss training of the generator: the paper's SRResNet (MSE) stage."""

    def __init__(
        self, generator: nn.Module, cfg: TrainConfig, device: torch.device, objective: Objective | None = None
    ) -> None:
        super().__init__(cfg, device, objective)
        self.generator = generator
        self.base_lrs = {"g": cfg.optim.lr}
        self.optimizers = {"g": _adam(generator.parameters(), cfg.optim.lr, cfg)}

    def train_step(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        with self.autocast():
            sr = self.generator(lr)
            loss, parts = self.objective(LossContext(sr, hr, self.scale, self.generator))
        self._step(loss, self.optimizers["g"], self.generator.parameters())
        self.scaler.update()
        return {"loss_g": loss.detach(), **{k: v.detach() for k, v in parts.items()}}


class SRGANStage(Stage):
    """Adversarial training (Ledig et al. 2017, Eq. 3): l_SR = content terms + weight * l_Gen."""

    uses_discriminator = True

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        cfg: TrainConfig,
        device: torch.device,
        objective: Objective | None = None,
    ) -> None:
        super().__init__(cfg, device, objective)
        self.generator, self.discriminator = generator, discriminator
        # D's loss comes from the adversarial term (the default BCE when the recipe trains D only for feature matching)
        self.adversarial = self.objective.adversarial() or AdversarialLoss(weight=0.0)
        self.features = self.objective.needs_features  # D's features for feature matching
        self.shift = cfg.d_random_shift
        self.g_first = cfg.gan_order == "g_first"
        self.r1 = cfg.d_r1
        # what a d_step hands to the g_step of the same batch: D's crop offsets, D(x) and D(x)'s features
        self._pending: tuple[list[list[int]] | None, torch.Tensor | None, list[torch.Tensor] | None] | None = None
        self.base_lrs = {"g": cfg.optim.lr, "d": cfg.d_lr or cfg.optim.lr}
        self.optimizers = {
            k: _adam(m.parameters(), self.base_lrs[k], cfg) for k, m in (("g", generator), ("d", discriminator))
        }

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
        if self.r1:
            hr = hr.detach().requires_grad_(True)
        real_feats = None
        with self.autocast():
            if self.features:  # D(x)'s features, kept (detached) as the G step's targets, as in pix2pixHD
                real_logits, feats = d(hr, features=True)
                real_feats = [f.detach() for f in feats]
            else:
                real_logits = d(hr)
            fake_logits = d(sr.detach())
            loss_d = self.adversarial.d_loss(real_logits, fake_logits)
        loss_d, log = self._with_r1(loss_d, real_logits, hr)
        self._step(loss_d, self.optimizers["d"], d.parameters())
        self._pending = (offsets, real_logits.detach(), real_feats)
        return {**_d_log(loss_d, real_logits, fake_logits), **log}

    def _with_r1(
        self, loss_d: torch.Tensor, real_logits: torch.Tensor, real: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """D's loss plus ``d_r1`` / 2 times the R1 penalty at ``real`` (when ``d_r1`` is set), and its log."""
        if not self.r1:
            return loss_d, {}
        r1 = r1_penalty(real_logits, real)
        return loss_d + self.r1 / 2 * r1, {"d_r1": r1.detach()}

    def g_step(self, sr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        """(2) G: minimise the recipe's terms, the adversarial -log D(G(z)) among them; D is
        frozen for this pass."""
        d = self.discriminator
        d.requires_grad_(False)
        try:
            # after a d_step on this batch: its offsets, D(x) and D(x)'s features; on its own: fresh ones
            offsets, real_logits, real_feats = self._pending or (self._draw_offsets(len(sr)), None, None)
            self._pending = None
            with self.autocast():
                sr_d = self._crop(sr, offsets)
                fake_feats = None
                if self.features:
                    fake_logits, fake_feats = d(sr_d, features=True)
                    if real_feats is None:  # targets from the current D
                        with torch.no_grad():
                            real_feats = d(self._crop(hr, offsets), features=True)[1]
                else:
                    fake_logits = d(sr_d)
                ctx = LossContext(sr, hr, self.scale, self.generator, fake_logits, real_logits, fake_feats, real_feats)
                loss_g, parts = self.objective(ctx)
            self._step(loss_g, self.optimizers["g"], self.generator.parameters())
        finally:
            d.requires_grad_(True)
        return {"loss_g": loss_g.detach(), **{k: v.detach() for k, v in parts.items()}}

    def shared_step(self, sr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        """``gan_order: g_first`` (BasicSR's and ESRGAN's order): G's step against D as it is,
        then D's step on the same D(x) and D(G(z)) passes. Two D forward passes instead of three,
        and G's backward computes no gradient of D's weights."""
        d = self.discriminator
        offsets = self._draw_offsets(len(sr))
        sr_d, hr_d = self._crop(sr, offsets), self._crop(hr, offsets)
        if self.r1:
            hr_d = hr_d.detach().requires_grad_(True)
        real_feats = fake_feats = None
        with self.autocast():
            if self.features:
                real_logits, feats = d(hr_d, features=True)
                real_feats = [f.detach() for f in feats]
                fake_logits, fake_feats = d(sr_d, features=True)
            else:
                real_logits, fake_logits = d(hr_d), d(sr_d)
            ctx = LossContext(
                sr, hr, self.scale, self.generator, fake_logits, real_logits.detach(), fake_feats, real_feats
            )
            loss_g, parts = self.objective(ctx)
        self._step(loss_g, self.optimizers["g"], self.generator.parameters(), only=True, keep_graph=True)
        with self.autocast():
            loss_d = self.adversarial.d_loss(real_logits, fake_logits)  # G(z)'s graph is not entered
        loss_d, log = self._with_r1(loss_d, real_logits, hr_d)
        self._step(loss_d, self.optimizers["d"], d.parameters(), only=True)
        return {
            **_d_log(loss_d, real_logits, fake_logits),
            **log,
            "loss_g": loss_g.detach(),
            **{k: v.detach() for k, v in parts.items()},
        }

    def train_step(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        with self.autocast():
            sr = self.generator(lr)
        if self.g_first:
            out = self.shared_step(sr, hr)
        else:
            out = self.d_step(sr, hr)
            out.update(self.g_step(sr, hr))
        self.scaler.update()
        return out


# training stage kinds (the paper's two, Sec. 3.2): name -> class
STAGES: dict[str, type[Stage]] = {
    "srresnet": SRResNetStage,  # the generator on its content terms (MSE pre-training)
    "srgan": SRGANStage,  # adversarial training with the discriminator
}
