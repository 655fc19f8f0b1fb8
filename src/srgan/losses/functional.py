"""Loss functions (Ledig et al. 2017, Sec. 2.2).

- pixel losses: l_MSE (Eq. 4), or L1;
- :class:`VGGLoss`: l_VGG/i,j (Eq. 5), MSE between VGG19 feature maps;
- :func:`adversarial_g_loss` / :func:`discriminator_loss`: Eq. (6) and the
  discriminator's BCE, computed on logits with ``BCEWithLogits`` (stable).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..imresize import resize_weights
from ..models.vgg import VGG19Features

__all__ = [
    "pixel_loss",
    "usm_sharpen",
    "VGGLoss",
    "load_vgg19_weights",
    "adversarial_g_loss",
    "discriminator_loss",
    "relativistic_losses",
    "feature_matching_loss",
    "lattice_loss",
    "block_loss",
    "chroma_loss",
    "window_lr",
    "shift_equivariance_loss",
    "VGG19_URL",
    "VGGWeightsError",
]

VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"  # torchvision's ImageNet weights
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGWeightsError(RuntimeError):
    """The VGG19 ImageNet weights are missing or unusable."""


def pixel_loss(kind: str) -> nn.Module:
    """Pixel-wise content loss: ``mse`` is the paper's l_MSE (Eq. 4); ``l1`` converges faster in PSNR."""
    if kind == "mse":
        return nn.MSELoss()
    if kind == "l1":
        return nn.L1Loss()
    raise ValueError(f"unknown pixel loss '{kind}' (use mse or l1)")


def _gaussian_blur(x: torch.Tensor, size: int) -> torch.Tensor:
    """Separable Gaussian blur with OpenCV's sigma for a ``size`` kernel (0.3((size-1)/2 - 1) + 0.8),
    reflect-padded; per channel."""
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    t = torch.arange(size, dtype=torch.float32, device=x.device) - (size - 1) / 2
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = (k / k.sum()).to(x.dtype)
    c, pad = x.shape[1], size // 2
    x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, size).expand(c, 1, 1, size).contiguous(), groups=c)
    return F.conv2d(x, k.view(1, 1, size, 1).expand(c, 1, size, 1).contiguous(), groups=c)


def usm_sharpen(img: torch.Tensor, amount: float = 0.5, size: int = 51, threshold: float = 10 / 255) -> torch.Tensor:
    """Unsharp-masked target as Real-ESRGAN trains on (Wang et al. 2021, Sec. 4.1; its USMSharp):
    img + amount * (img - blur(img)), applied through a soft mask (the blurred indicator of
    |img - blur(img)| > threshold) so that flat areas and noise stay as they are; clipped to [0, 1].
    A sharper target than the HR crop counters the blur that a pixel loss alone leaves."""
    if img.shape[-1] <= size // 2 or img.shape[-2] <= size // 2:  # reflect padding needs a larger image
        size = 2 * (min(img.shape[-2:]) // 2 - 1) + 1
    if size < 3:
        return img
    residual = img - _gaussian_blur(img, size)
    mask = (residual.abs() > threshold).to(img.dtype)
    soft = _gaussian_blur(mask, size)
    sharp = (img + amount * residual).clamp(0, 1)
    return soft * sharp + (1 - soft) * img


def load_vgg19_weights(path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """torchvision's VGG19 ImageNet state dict: from ``path`` if given, else the
    standard URL through ``torch.hub`` (cached in ``$TORCH_HOME/hub/checkpoints``)."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise VGGWeightsError(f"--vgg-weights {p}: no such file")
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(p))
        try:
            return torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise VGGWeightsError(
                f"--vgg-weights {p}: not a readable state dict ({str(exc).splitlines()[0]})"
            ) from None
    try:
        return torch.hub.load_state_dict_from_url(
            VGG19_URL, map_location="cpu", progress=True, check_hash=True, weights_only=True
        )
    except Exception as exc:
        cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(VGG19_URL).name
        raise VGGWeightsError(
            f"VGG19 ImageNet weights are needed for the VGG loss but could not be downloaded ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}). "
            f"Download {VGG19_URL} where there is internet access, then either put it at {cache} "
            f"or pass --vgg-weights /path/to/{Path(VGG19_URL).name} (config key loss.vgg_weights)."
        ) from None


class VGGLoss(nn.Module):
    """MSE between VGG19 features of SR and HR (Eq. 5), on ImageNet-normalised
    input in [0, 1]. ``rescale`` multiplies the features first (the paper uses 1/12.75).
    The network is frozen and kept in eval mode; never wrap it in DDP."""

    def __init__(
        self, layer: str = "relu5_4", weights: dict[str, torch.Tensor] | None = None, rescale: float = 1.0
    ) -> None:
        super().__init__()
        self.vgg = VGG19Features(layer)
        if weights is not None:
            own = self.vgg.state_dict()
            missing = [k for k in own if k not in weights]
            if missing:
                raise VGGWeightsError(
                    f"VGG19 weights lack {len(missing)} tensors (e.g. {missing[0]}); expected torchvision's vgg19 "
                    "layout"
                )
            self.vgg.load_state_dict({k: weights[k] for k in own})
        self.vgg.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.rescale = rescale

    def train(self, mode: bool = True) -> "VGGLoss":
        super().train(mode)
        self.vgg.eval()  # frozen statistics-free net, always inference behaviour
        return self

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        f_sr = self.vgg((sr - self.mean) / self.std)
        with torch.no_grad():
            f_hr = self.vgg((hr - self.mean) / self.std)
        return F.mse_loss(f_sr * self.rescale, f_hr * self.rescale)


def adversarial_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(z)) averaged over the batch (Eq. 6), as BCE-with-logits against label 1."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def feature_matching_loss(fake_feats: list[torch.Tensor], real_feats: list[torch.Tensor]) -> torch.Tensor:
    """Mean over D's layers of the L1 distance between the features of G(z) and of the paired x.

    A learned perceptual content loss that needs no pretrained network (feature matching,
    Salimans et al. 2016, in its paired per-layer form from pix2pixHD, Wang et al. 2018).
    ``real_feats`` are treated as constants.
    """
    terms = [F.l1_loss(f.float(), r.detach().float()) for f, r in zip(fake_feats, real_feats, strict=True)]
    return torch.stack(terms).mean()


def lattice_loss(sr: torch.Tensor, hr: torch.Tensor, period: int, window: int = 0) -> torch.Tensor:
    """RMS over channels and sub-pixel phases of the mean error at each phase
    (y mod period, x mod period), less its mean over phases.

    A pattern on the output lattice (the grid that adversarial gradients tend to leave in a
    PixelShuffle generator) is what this measures; ordinary errors average out. ``window = 0``
    averages over the whole batch, which sees a pattern of one sign everywhere; ``window = W``
    (output pixels, a multiple of ``period``) averages over each W x W tile of each image, which
    also sees a pattern whose sign follows the content, such as a ladder along an edge. Unlike a
    pixel loss, its gradient does not vanish for a faint pattern.
    """
    e = sr.float() - hr.float()
    n, c, h, w = e.shape
    size = window or period
    if window and (window < period or window % period or window > min(h, w)):
        raise ValueError(
            f"lattice window {window} must be a multiple of the period {period} and fit in the {h}x{w} image"
        )
    h, w = h - h % size, w - w % size
    e = e[:, :, :h, :w].reshape(n, c, h // period, period, w // period, period)
    if window:  # phase means per tile: (n, c, tiles, period, period)
        e = e.permute(0, 1, 3, 5, 2, 4).reshape(n, c * period * period, h // period, w // period)
        phase = F.avg_pool2d(e, window // period).reshape(n, c, period, period, -1).movedim(-1, 2)
    else:  # one pattern for the batch: (c, period, period)
        phase = e.mean(dim=(0, 2, 4))
    phase = phase - phase.mean(dim=(-2, -1), keepdim=True)
    return phase.pow(2).mean().add(1e-12).sqrt()


def block_profile(x: torch.Tensor, period: int) -> torch.Tensor:
    """(N, 2 * period): mean |horizontal| then |vertical| difference between neighbours, by the
    sub-pixel phase (x mod period, y mod period) of the pair, each direction divided by its mean."""
    gx = (x[..., :, 1:] - x[..., :, :-1]).abs()
    gy = (x[..., 1:, :] - x[..., :-1, :]).abs()
    wx, hy = (gx.shape[-1] // period) * period, (gy.shape[-2] // period) * period
    px = gx[..., :wx].unflatten(-1, (wx // period, period)).mean(dim=(1, 2, 3))
    py = gy[..., :hy, :].unflatten(-2, (hy // period, period)).mean(dim=(1, 2, 4))
    return torch.cat([px / px.mean(1, keepdim=True).clamp_min(1e-8), py / py.mean(1, keepdim=True).clamp_min(1e-8)], 1)


def block_loss(sr: torch.Tensor, hr: torch.Tensor, period: int) -> torch.Tensor:
    """RMS difference of :func:`block_profile` between SR and HR, per image.

    A PixelShuffle generator builds each LR pixel's period x period block separately, and an
    adversarially trained one tends to put edges at the block boundaries: texture becomes a mesh of
    short horizontal and vertical strokes (grass, fur). The strokes' sign varies, so the signed
    :func:`lattice_loss` hardly sees them; their energy does not: the mean edge strength at one phase
    exceeds that at the others. Natural images have a flat profile, or the HR's own (JPEG blocks).
    """
    return (block_profile(sr.float(), period) - block_profile(hr.float(), period)).pow(2).mean().add(1e-12).sqrt()


# BT.601 chroma rows (Cb, Cr) for RGB in [0, 1]; they sum to 0, so a grey change moves neither.
_CHROMA = ((-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))


def chroma_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Mean L1 distance between the BT.601 chroma (Cb, Cr) of SR and HR RGB images.

    The adversarial and feature-matching gradients do not tell luma from colour, and a GAN
    generator draws its invented detail in both: a dark line beaded with blue and green, pink
    specks on a flat wall, colour in a grey image. The eye resolves far less detail in chroma
    than in luma (the reason JPEG subsamples it), so an extra weight on chroma fidelity leaves
    the luma free for texture while it holds the colours to those of the image.
    """
    if sr.shape[1] != 3:
        raise ValueError(f"chroma needs RGB images, got {sr.shape[1]} channels")
    m = torch.tensor(_CHROMA, dtype=torch.float32, device=sr.device)
    return (torch.einsum("kc,nchw->nkhw", m, sr.float() - hr.float())).abs().mean()


_LUMA = (0.299, 0.587, 0.114)  # BT.601


def _luma(img: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) BT.601 luma of an (N, 3, H, W) RGB batch, in float32."""
    w = torch.tensor(_LUMA, dtype=torch.float32, device=img.device).view(1, 3, 1, 1)
    return (img.float() * w).sum(1, keepdim=True)


def overshoot_loss(sr: torch.Tensor, hr: torch.Tensor, radius: int = 4) -> torch.Tensor:
    """Halo penalty: the mean amount by which SR's luma leaves the range [min, max] of HR's luma in
    the (2 radius + 1)^2 window around each pixel (max-pooling), the differentiable form of
    :func:`srgan.artifacts.edge_overshoot` over the whole crop. Texture and detail inside HR's
    local range cost nothing; a dark or bright rim beside an edge, beyond both of its sides, does.
    """
    ys, yh = _luma(sr), _luma(hr)
    k = 2 * radius + 1
    hi = F.max_pool2d(F.pad(yh, (radius,) * 4, mode="replicate"), k, stride=1)
    lo = -F.max_pool2d(F.pad(-yh, (radius,) * 4, mode="replicate"), k, stride=1)
    return (F.relu(ys - hi) + F.relu(lo - ys)).mean()


def _window_variation(y: torch.Tensor, k: int) -> torch.Tensor:
    """|dx| + |dy| summed over the k x k window around each pixel, over k (replicated borders)."""
    dx = F.pad((y[..., :, 1:] - y[..., :, :-1]).abs(), (0, 1))
    dy = F.pad((y[..., 1:, :] - y[..., :-1, :]).abs(), (0, 0, 0, 1))
    tv = dx + dy
    return F.avg_pool2d(F.pad(tv, (k // 2,) * 4, mode="replicate"), k, stride=1) * k


def ringing_loss(sr: torch.Tensor, hr: torch.Tensor, radius: int = 4, threshold: float = 24 / 255) -> torch.Tensor:
    """Ringing penalty: at pixels where HR's luma has a step (a gradient of at least ``threshold``
    per pixel), the variation of SR's luma in the (2 radius + 1)^2 window beyond HR's, averaged over
    the crop; the differentiable form of :func:`srgan.artifacts.edge_ringing`. A monotone edge,
    sharp or soft, costs nothing; a second line beside it does, also inside the edge's range, where
    :func:`overshoot_loss` cannot see it. Texture away from HR's steps is left alone."""
    ys, yh = _luma(sr), _luma(hr)
    gy = F.pad(yh[..., 2:, :] - yh[..., :-2, :], (0, 0, 1, 1)) / 2  # central differences, as np.gradient
    gx = F.pad(yh[..., :, 2:] - yh[..., :, :-2], (1, 1)) / 2
    edge = (torch.hypot(gx, gy) >= threshold).float()
    k = 2 * radius + 1
    return (F.relu(_window_variation(ys, k) - _window_variation(yh, k)) * edge).mean()


def window_lr(hr: torch.Tensor, offsets: list[tuple[int, int]], scale: int) -> torch.Tensor:
    """MATLAB-bicubic LR of the (H - scale) x (W - scale) window of ``hr[i]`` that starts at
    ``offsets[i] = (dy, dx)`` (each in ``[0, scale]``), on the 8-bit grid like the training LR.
    Every window is real content: no padded or replicated edge. Returns
    (len(offsets), C, H / scale - 1, W / scale - 1)."""
    n, _, h, w = hr.shape
    if len(offsets) > n:
        raise ValueError(f"{len(offsets)} offsets for a batch of {n}")
    if any(not (0 <= d <= scale) for o in offsets for d in o):
        raise ValueError(f"offsets must lie in [0, {scale}]: {offsets}")
    h, w = h - scale, w - scale
    windows = torch.stack([hr[i, :, dy : dy + h, dx : dx + w].float() for i, (dy, dx) in enumerate(offsets)])
    wy = torch.as_tensor(resize_weights(h, h // scale, 1 / scale), dtype=windows.dtype, device=hr.device)
    wx = torch.as_tensor(resize_weights(w, w // scale, 1 / scale), dtype=windows.dtype, device=hr.device)
    lr = torch.einsum("oh,nchw,pw->ncop", wy, windows, wx)
    return lr.mul(255).round().div(255).clamp(0, 1).to(hr.dtype)


def shift_equivariance_loss(
    sr: torch.Tensor, sr_shifted: torch.Tensor, shifts: list[tuple[int, int]], margin: int = 0, norm: str = "l1"
) -> torch.Tensor:
    """Mean L1 (or squared, ``norm="mse"``) distance between ``G(LR of x moved by s)`` and
    ``G(LR of x)`` moved by s, over their whole overlap.

    A shift that is not a multiple of the scale moves the image against the output lattice, so
    anything the generator ties to that lattice (a dotted ladder along an edge, texture drawn on
    block boundaries) lands elsewhere in the two outputs, while detail that follows the content
    moves with it (translation equivariance, the EQ-T of Karras et al. 2021, "Alias-Free GAN").
    ``sr[i]`` and ``sr_shifted[i]`` are G of :func:`window_lr` at offsets (0, 0) and ``shifts[i]``.
    The overlap includes the image borders: a band left out there is where G learns to put the
    lattice patterns that the loss removes elsewhere. ``margin`` output pixels at each side can
    still be left out. The squared distance weighs a high-contrast pattern (a ladder along a dark
    edge) more, against small differences in invented texture, than L1 does.
    """
    if norm not in ("l1", "mse"):
        raise ValueError(f"norm must be l1 or mse, not {norm!r}")
    h, w = sr_shifted.shape[-2:]
    total, count = sr.new_zeros((), dtype=torch.float32), 0
    for i, (dy, dx) in enumerate(shifts):
        size_y, size_x = h - 2 * margin - dy, w - 2 * margin - dx
        if size_y < 1 or size_x < 1:
            raise ValueError(f"margin {margin} leaves nothing of a {h}x{w} output")
        a = sr[i, :, dy + margin : dy + margin + size_y, dx + margin : dx + margin + size_x].float()
        b = sr_shifted[i, :, margin : margin + size_y, margin : margin + size_x].float()
        d = (a - b).abs() if norm == "l1" else (a - b).square()
        total, count = total + d.sum(), count + a.numel()
    return total / count


def relativistic_losses(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Relativistic average GAN (Jolicoeur-Martineau 2019; ESRGAN, Wang et al. 2018, Eq. 1-2):
    D_Ra(a, b) = sigmoid(C(a) - E[C(b)]). Returns (D's loss, G's loss):
    D: -E[log D_Ra(x_r, x_f)] - E[log(1 - D_Ra(x_f, x_r))]; G: the same with the labels swapped,
    so that G also gets gradient from making real images look less real than its own."""
    d_real = real_logits - fake_logits.mean()
    d_fake = fake_logits - real_logits.mean()
    bce = F.binary_cross_entropy_with_logits
    loss_d = 0.5 * (bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake)))
    loss_g = 0.5 * (bce(d_real, torch.zeros_like(d_real)) + bce(d_fake, torch.ones_like(d_fake)))
    return loss_d, loss_g


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder, Geiger & Nowozin, ICML 2018, Eq. 9): the squared norm of D's gradient at the
    real images, per image, averaged; ``real`` must require grad. Differentiable (double backward),
    so that D's step can descend on it: it keeps D smooth around the data, where an unpenalised D
    grows sharp input gradients that G then copies. A patch discriminator's logits (several per
    image) enter as their per-image mean, as its BCE loss averages them: summed, the penalty would
    grow with the square of the number of cells and flatten D (docs/notes/2026-12-01-srgan-x4-real.md)."""
    per_image = real_logits.float().reshape(real.shape[0], -1).mean(1)
    (grad,) = torch.autograd.grad(per_image.sum(), real, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(1).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))): BCE on real (label 1) and fake (label 0)."""
    return F.binary_cross_entropy_with_logits(
        real_logits, torch.ones_like(real_logits)
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
