"""The generator's objective as weighted terms (Ledig et al. 2017, Eq. 3: content + 1e-3 x adversarial).

Each term is an ``nn.Module`` whose ``forward`` takes a :class:`LossContext` and returns its
unweighted value; its constructor's keyword arguments are the parameters a recipe may set (type
hints checked, unknown ones refused). :mod:`.registry` maps the ``type`` names to the classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from . import functional as L
from .texture import GaborFilterBank, RandomFilterBank, TrainedFeatureBank, texture_loss

__all__ = [
    "LossContext",
    "LossTerm",
    "PixelLoss",
    "PerceptualVGGLoss",
    "FeatureMatchingLoss",
    "LatticeLoss",
    "BlockLoss",
    "ChromaLoss",
    "ShiftLoss",
    "OvershootLoss",
    "TextureLoss",
    "AdversarialLoss",
    "RelativisticAdversarialLoss",
]


@dataclass
class LossContext:
    """What the terms of one generator step may read. The discriminator's outputs are set only
    in the SRGAN stage, and its features only when a term asks for them (``needs_features``)."""

    sr: torch.Tensor
    hr: torch.Tensor
    scale: int
    generator: nn.Module
    fake_logits: torch.Tensor | None = None  # D(G(z))
    real_logits: torch.Tensor | None = None  # D(x), detached
    fake_feats: list[torch.Tensor] | None = None
    real_feats: list[torch.Tensor] | None = None


class LossTerm(nn.Module):
    """Base class. ``weight`` multiplies the term; ``name`` (default: ``default_name``) is its
    log column ``loss_<name>``. ``check(cfg)`` may refuse a training config (raise ValueError)."""

    default_name: ClassVar[str] = "loss"
    content: ClassVar[bool] = True  # false for the adversarial term: a recipe needs at least one content term
    needs_discriminator: ClassVar[bool] = False
    needs_features: ClassVar[bool] = False

    def __init__(self, weight: float = 1.0, name: str | None = None) -> None:
        super().__init__()
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        self.weight, self.name = float(weight), name or self.default_name

    def label(self) -> str:
        """How the model card names the term."""
        return self.default_name

    def check(self, cfg) -> None:  # noqa: B027 - optional hook
        """Refuse settings that do not fit the training config (crop, scale, stage)."""

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Load what the term needs before training starts (called once by the stage)."""

    def forward(self, ctx: LossContext) -> torch.Tensor:
        raise NotImplementedError


class PixelLoss(LossTerm):
    """l_MSE of Eq. (4) (``norm: mse``), or L1 (``norm: l1``, converges faster in PSNR).
    ``usm`` > 0 compares against the unsharp-masked HR (:func:`~.functional.usm_sharpen` with
    that amount), as Real-ESRGAN does for its pixel term. ``pool`` > 1 compares the means of
    ``pool`` x ``pool`` blocks only: with ``pool`` = the scale, a term on each LR pixel's colour
    that leaves the texture inside the block free (it pins a GAN's colour and LR-consistency)."""

    default_name = "pixel"

    def __init__(
        self, weight: float = 1.0, name: str | None = None, norm: str = "mse", usm: float = 0.0, pool: int = 1
    ) -> None:
        super().__init__(weight, name)
        if not 0 <= usm <= 2:
            raise ValueError(f"usm must be in [0, 2], got {usm}")
        if pool < 1:
            raise ValueError(f"pool must be >= 1, got {pool}")
        self.norm, self.fn, self.usm, self.pool = norm, L.pixel_loss(norm), float(usm), int(pool)

    def label(self) -> str:
        target = f" (USM {self.usm:g} target)" if self.usm else ""
        return f"{self.norm.upper()} pixel" + target + (f" of {self.pool}x{self.pool} means" if self.pool > 1 else "")

    def forward(self, ctx: LossContext) -> torch.Tensor:
        sr, hr = ctx.sr.float(), ctx.hr.float()
        if self.usm:
            hr = L.usm_sharpen(hr, self.usm)
        if self.pool > 1:
            sr, hr = F.avg_pool2d(sr, self.pool), F.avg_pool2d(hr, self.pool)
        return self.fn(sr, hr)


class PerceptualVGGLoss(LossTerm):
    """l_VGG/i,j of Eq. (5): MSE between VGG19 features at ``layer``, rescaled by ``rescale``
    (the paper: 1/12.75). ``weights``: a local copy of torchvision's VGG19, else it downloads."""

    default_name = "vgg"

    def __init__(
        self,
        weight: float = 1.0,
        name: str | None = None,
        layer: str = "relu5_4",
        rescale: float = 1.0,
        weights: str | None = None,
    ) -> None:
        super().__init__(weight, name)
        from ..models.vgg import VGG19_LAYERS

        if layer not in VGG19_LAYERS:
            raise ValueError(f"layer must be a VGG19 layer name such as relu2_2, relu5_3, relu5_4, got {layer!r}")
        self.layer, self.rescale, self.weights_path = layer, rescale, weights
        self._vgg: L.VGGLoss | None = None  # built on first use: the weights may need a download

    def label(self) -> str:
        return f"VGG19 {self.layer}"

    def setup(self) -> None:
        if self._vgg is None:
            self._vgg = L.VGGLoss(self.layer, L.load_vgg19_weights(self.weights_path), self.rescale)

    def forward(self, ctx: LossContext) -> torch.Tensor:
        self.setup()
        return self._vgg.to(ctx.sr.device)(ctx.sr, ctx.hr).float()


class FeatureMatchingLoss(LossTerm):
    """L1 between D's features of G(z) and of the paired x at its eight stages
    (:func:`~srgan.losses.functional.feature_matching_loss`): a perceptual loss without ImageNet weights."""

    default_name = "fm"
    needs_discriminator = True
    needs_features = True

    def label(self) -> str:
        return "D feature matching"

    def forward(self, ctx: LossContext) -> torch.Tensor:
        return L.feature_matching_loss(ctx.fake_feats, ctx.real_feats)


class TextureLoss(LossTerm):
    """Local texture statistics without ImageNet weights (:mod:`~srgan.losses.texture`): L1 between
    the Gram matrices of SR's and HR's responses to ``filters`` fixed random ``kernel`` px filters
    (seed ``seed``) at image scales 1, 2 and 4, per ``window`` px tile (Ustyuzhaninov et al. 2017;
    EnhanceNet's patch-wise texture loss, Sajjadi et al. 2017). ``bank: gabor`` uses oriented
    Gabor filters on luma instead (:class:`~srgan.losses.texture.GaborFilterBank`; ``filters``,
    ``kernel`` and ``seed`` then do not apply); ``bank: trained`` the head and first ``depth``
    residual blocks of the packaged SRResNet ``source``, features we trained on our own images
    (:class:`~srgan.losses.texture.TrainedFeatureBank`)."""

    default_name = "texture"

    def __init__(
        self,
        weight: float = 1.0,
        name: str | None = None,
        filters: int = 32,
        kernel: int = 5,
        window: int = 32,
        seed: int = 0,
        bank: str = "random",
        source: str = "srresnet-x4",
        depth: int = 2,
    ) -> None:
        super().__init__(weight, name)
        if filters < 1 or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"filters must be >= 1 and kernel odd, got {filters} and {kernel}")
        if bank not in ("random", "gabor", "trained"):
            raise ValueError(f"bank must be 'random', 'gabor' or 'trained', got {bank!r}")
        self.window = window
        if bank == "trained":
            from ..hub import load_generator

            self.bank = TrainedFeatureBank(load_generator(source)[0], depth)
            self.kind = f"{source} head + {depth} block{'' if depth == 1 else 's'}"
        else:
            self.bank = RandomFilterBank(filters, kernel, seed=seed) if bank == "random" else GaborFilterBank()
            self.kind = "Gabor" if bank == "gabor" else "random-filter"

    def label(self) -> str:
        return f"{self.kind} texture ({self.window} px tiles)"

    def check(self, cfg) -> None:
        if not 4 <= self.window <= cfg.data.min_crop:
            raise ValueError(f"window must be from 4 px up to the (smallest) crop ({cfg.data.min_crop})")

    def forward(self, ctx: LossContext) -> torch.Tensor:
        return texture_loss(ctx.sr.float(), ctx.hr.float(), self.bank, self.window)


class LatticeLoss(LossTerm):
    """A pattern on the x{scale} output lattice (:func:`~srgan.losses.functional.lattice_loss`);
    ``window`` 0: one pattern for the batch, W: one per W x W output tile."""

    default_name = "lattice"

    def __init__(self, weight: float = 1.0, name: str | None = None, window: int = 0) -> None:
        super().__init__(weight, name)
        self.window = window

    def label(self) -> str:
        return f"lattice ({self.window} px tiles)" if self.window else "lattice"

    def check(self, cfg) -> None:
        s, crop = cfg.model.scale, cfg.data.min_crop
        if not (0 <= self.window <= crop and self.window % s == 0):
            raise ValueError(
                f"window must be 0 (the whole batch) or a multiple of the scale ({s}) up to the crop ({crop})"
            )

    def forward(self, ctx: LossContext) -> torch.Tensor:
        return L.lattice_loss(ctx.sr, ctx.hr, ctx.scale, self.window)


class BlockLoss(LossTerm):
    """Edges that favour the x{scale} block boundaries (:func:`~srgan.losses.functional.block_loss`)."""

    default_name = "block"

    def label(self) -> str:
        return "block"

    def forward(self, ctx: LossContext) -> torch.Tensor:
        return L.block_loss(ctx.sr, ctx.hr, ctx.scale)


class ChromaLoss(LossTerm):
    """L1 on the BT.601 chroma (Cb, Cr) of SR against HR (:func:`~srgan.losses.functional.chroma_loss`)."""

    default_name = "chroma"

    def label(self) -> str:
        return "chroma (Cb, Cr)"

    def forward(self, ctx: LossContext) -> torch.Tensor:
        return L.chroma_loss(ctx.sr, ctx.hr)


class _EdgeWindowLoss(LossTerm):
    """A term measured in a (2 radius + 1)^2 window around HR's edges."""

    def __init__(self, weight: float = 1.0, name: str | None = None, radius: int = 4) -> None:
        super().__init__(weight, name)
        if radius < 1:
            raise ValueError(f"radius must be >= 1, got {radius}")
        self.radius = radius


class OvershootLoss(_EdgeWindowLoss):
    """Halos along edges (:func:`~srgan.losses.functional.overshoot_loss`): SR's luma beyond HR's
    local extremes within ``radius`` px, the differentiable form of the edge-overshoot measure."""

    default_name = "overshoot"

    def label(self) -> str:
        return f"edge overshoot ({self.radius} px)"

    def forward(self, ctx: LossContext) -> torch.Tensor:
        return L.overshoot_loss(ctx.sr, ctx.hr, self.radius)


class RingingLoss(_EdgeWindowLoss):
    """Second lines beside edges (:func:`~srgan.losses.functional.ringing_loss`): SR's luma variation
    beyond HR's within ``radius`` px of HR's steps, the differentiable form of the edge-ringing
    measure. Unlike :class:`OvershootLoss` it also sees a line that stays inside the edge's range."""

    default_name = "ringing"

    def label(self) -> str:
        return f"edge ringing ({self.radius} px)"

    def forward(self, ctx: LossContext) -> torch.Tensor:
        return L.ringing_loss(ctx.sr, ctx.hr, self.radius)


class ShiftLoss(LossTerm):
    """Sub-pixel shift equivariance of G (:func:`~srgan.losses.functional.shift_equivariance_loss`).

    For the first ``samples`` crops (0: half the batch), two windows of the HR crop, one scale
    smaller, are taken: one at (0, 0) and one moved by a random offset that is not a multiple of
    the scale. Their LRs go through G together, so that BatchNorm sees one batch for both, and
    the term compares the outputs over their whole overlap (``margin`` output px left out)."""

    default_name = "shift"

    def __init__(
        self, weight: float = 1.0, name: str | None = None, samples: int = 0, norm: str = "l1", margin: int = 0
    ) -> None:
        super().__init__(weight, name)
        if norm not in ("l1", "mse"):
            raise ValueError(f"norm must be l1 or mse, got {norm!r}")
        self.samples, self.norm, self.margin = samples, norm, margin

    def label(self) -> str:
        return "shift equivariance" + (" (squared)" if self.norm == "mse" else "")

    def check(self, cfg) -> None:
        if not 0 <= self.samples <= cfg.data.batch_size:
            raise ValueError(f"samples must be 0 (half the batch) up to the batch size ({cfg.data.batch_size})")
        if self.margin < 0 or 2 * (self.margin + cfg.model.scale) > cfg.data.min_crop:
            raise ValueError(f"margin must be >= 0 and leave a region of the {cfg.data.min_crop} px crop to compare")

    def forward(self, ctx: LossContext) -> torch.Tensor:
        hr, s = ctx.hr, ctx.scale
        n = self.samples or max(1, len(hr) // 2)
        shifts = [(k // s, k % s) for k in torch.randint(1, s * s, (n,)).tolist()]  # offsets in [0, s)^2 but (0, 0)
        pairs = L.window_lr(torch.cat([hr[:n], hr[:n]]), [(0, 0)] * n + shifts, s)
        memory = torch.channels_last if hr.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        out = ctx.generator(pairs.contiguous(memory_format=memory))
        return L.shift_equivariance_loss(out[:n], out[n:], shifts, self.margin, self.norm)


class AdversarialLoss(LossTerm):
    """l_Gen of Eq. (6), -log D(G(z)), on logits; :meth:`d_loss` is the discriminator's BCE."""

    default_name = "adv"
    content = False
    needs_discriminator = True

    def label(self) -> str:
        return "adversarial"

    def forward(self, ctx: LossContext) -> torch.Tensor:
        return L.adversarial_g_loss(ctx.fake_logits.float())

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return L.discriminator_loss(real_logits.float(), fake_logits.float())


class RelativisticAdversarialLoss(AdversarialLoss):
    """ESRGAN's relativistic average adversarial loss (Eq. 1-2) in place of Eq. (6): D judges
    whether a real image is more realistic than the average fake, and G's loss has a term from
    the real images too. G's term uses D(x) of the same batch as computed in D's step (detached)."""

    def label(self) -> str:
        return "relativistic adversarial"

    def forward(self, ctx: LossContext) -> torch.Tensor:
        if ctx.real_logits is None:
            raise ValueError("the relativistic loss needs D(x) of the batch: it runs after a discriminator step")
        return L.relativistic_losses(ctx.real_logits.float(), ctx.fake_logits.float())[1]

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return L.relativistic_losses(real_logits.float(), fake_logits.float())[0]
