"""Real-ESRGAN's second-order degradation (Wang et al., ICCVW 2021, Sec. 3.1-3.3), per sample.

Twice: blur (a random kernel of :mod:`.kernels`), a random resize (up, down or kept; area,
bilinear or bicubic), Gaussian or Poisson noise (colour or gray) and JPEG at a random quality,
where the second order's JPEG is the last step: in random order, [resize to the LR size + sinc]
and JPEG (Fig. 2, and ``feed_data`` of the authors' code). Two JPEG round trips in all. The
defaults are the paper's (its ``train_realesrnet_x4plus.yml``); each range can be set in a recipe's
``data.degradation``. Every draw comes from the ``numpy.random.Generator`` the caller passes,
so a sample is a pure function of ``(seed, sample index)``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .kernels import KINDS, random_kernel, sinc

__all__ = ["RealisticDegradation", "blur", "resize", "add_gaussian_noise", "add_poisson_noise", "jpeg"]

MODES = ("area", "bilinear", "bicubic")


def blur(img: torch.Tensor, kernel: np.ndarray) -> torch.Tensor:
    """(C, H, W) convolved with ``kernel`` per channel (as ``conv2d``, a correlation), reflect
    padding. Computed with FFTs: Real-ESRGAN's kernels reach 21 x 21, where a direct depthwise
    convolution was a third of the degradation's time."""
    k = torch.as_tensor(kernel, dtype=img.dtype)
    pad = k.shape[-1] // 2
    h, w = img.shape[-2:]
    x = F.pad(img[None], (pad, pad, pad, pad), mode="reflect" if min(h, w) > pad else "replicate")[0]
    size = tuple(_fft_size(n) for n in x.shape[-2:])  # >= the padded size: no wrap-around reaches the output
    spectrum = torch.fft.rfft2(x, s=size) * torch.fft.rfft2(k.flip(0, 1), s=size)
    return torch.fft.irfft2(spectrum, s=size)[:, 2 * pad : 2 * pad + h, 2 * pad : 2 * pad + w].contiguous()


def _fft_size(n: int) -> int:
    """The smallest m >= n whose prime factors are 2, 3 and 5 (FFTs of other sizes are 2-3x slower)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def resize(img: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """(C, H, W) resized to ``size`` (h, w) with ``mode`` (area, bilinear or bicubic)."""
    extra = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(img[None], size=size, mode=mode, **extra)[0]


def add_gaussian_noise(img: torch.Tensor, sigma: float, gray: bool, rng: np.random.Generator) -> torch.Tensor:
    """Additive Gaussian noise of std ``sigma`` (in 8-bit levels), the same in all channels if ``gray``."""
    shape = (1, *img.shape[1:]) if gray else img.shape
    noise = torch.from_numpy(rng.standard_normal(shape).astype(np.float32)) * (sigma / 255.0)
    return img + noise


def add_poisson_noise(img: torch.Tensor, scale: float, gray: bool, rng: np.random.Generator) -> torch.Tensor:
    """Shot noise: Poisson counts at the image's number of distinct levels (rounded up to a power
    of two, as Real-ESRGAN does), the deviation multiplied by ``scale``; gray: computed on luma."""
    src = img.clamp(0, 1)
    if gray:
        src = (0.299 * src[0] + 0.587 * src[1] + 0.114 * src[2])[None] if img.shape[0] == 3 else src[:1]
    arr = src.numpy()
    levels = np.count_nonzero(np.bincount(np.rint(arr * 255).astype(np.uint8).ravel(), minlength=256))
    vals = 2.0 ** np.ceil(np.log2(max(levels, 2)))
    counts = rng.poisson(arr.astype(np.float64) * vals)
    noise = torch.from_numpy((counts / vals).astype(np.float32)) - src
    return img + noise * scale


def jpeg(img: torch.Tensor, quality: int) -> torch.Tensor:
    """An 8-bit JPEG round trip at ``quality`` (Pillow, 4:2:0 chroma subsampling). The file is
    decoded by the JPEG decoder alone, without parsing it as an image file (the same values)."""
    x = np.clip(img.numpy(), 0, 1) * np.float32(255) + np.float32(0.5)
    arr = np.ascontiguousarray(x.astype(np.uint8).transpose(1, 2, 0))
    mode = "RGB" if arr.shape[2] == 3 else "L"
    buf = io.BytesIO()
    Image.fromarray(arr if mode == "RGB" else arr[..., 0]).save(buf, "JPEG", quality=int(quality))
    out = np.asarray(Image.frombytes(mode, (arr.shape[1], arr.shape[0]), buf.getvalue(), "jpeg", mode, ""))
    return torch.from_numpy(out.reshape(*out.shape[:2], -1).transpose(2, 0, 1).astype(np.float32) / 255.0)


def _pair(v) -> tuple[float, float]:
    a, b = (float(x) for x in v)
    if a > b:
        raise ValueError(f"range {v} must be [low, high]")
    return a, b


@dataclass
class RealisticDegradation:
    """Parameters of the two-stage model (defaults: Real-ESRGAN x4plus) and the sampler."""

    kernel_list: tuple[str, ...] = KINDS
    kernel_prob: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    kernel_size: tuple[int, int] = (7, 21)
    sinc_prob: float = 0.1
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    betag_range: tuple[float, float] = (0.5, 4.0)
    betap_range: tuple[float, float] = (1.0, 2.0)
    resize_prob: tuple[float, float, float] = (0.2, 0.7, 0.1)  # up, down, keep
    resize_range: tuple[float, float] = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_range: tuple[float, float] = (1.0, 30.0)
    poisson_scale_range: tuple[float, float] = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple[float, float] = (30.0, 95.0)
    second_blur_prob: float = 0.8
    sinc_prob2: float = 0.1
    blur_sigma2: tuple[float, float] = (0.2, 1.5)
    resize_prob2: tuple[float, float, float] = (0.3, 0.4, 0.3)
    resize_range2: tuple[float, float] = (0.3, 1.2)
    gaussian_noise_prob2: float = 0.5
    noise_range2: tuple[float, float] = (1.0, 25.0)
    poisson_scale_range2: tuple[float, float] = (0.05, 2.5)
    gray_noise_prob2: float = 0.4
    jpeg_range2: tuple[float, float] = (30.0, 95.0)
    final_sinc_prob: float = 0.8

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("range") or f.name.endswith("range2") or f.name.startswith("blur_sigma"):
                setattr(self, f.name, _pair(value))
            elif f.name.endswith("_prob") or f.name.endswith("_prob2"):
                if isinstance(value, (list, tuple)):
                    if any(p < 0 for p in value) or sum(value) <= 0:
                        raise ValueError(f"{f.name} must be non-negative weights, got {value}")
                    setattr(self, f.name, tuple(float(p) for p in value))
                elif not 0 <= float(value) <= 1:
                    raise ValueError(f"{f.name} must be in [0, 1], got {value}")
        unknown = set(self.kernel_list) - set(KINDS)
        if unknown or len(self.kernel_list) != len(self.kernel_prob):
            raise ValueError(f"kernel_list must name kernels of {KINDS}, one probability each")
        low, high = self.jpeg_range
        if not 1 <= low <= high <= 100:
            raise ValueError(f"jpeg_range must lie in [1, 100], got {self.jpeg_range}")

    def _order(self, img, rng, size, second: bool) -> torch.Tensor:
        """One order of blur, resize and noise, and for the first order its JPEG (the second
        order's comes with the final sinc, in :meth:`__call__`)."""
        s = "2" if second else ""
        if not second or rng.uniform() < self.second_blur_prob:
            kernel = random_kernel(
                rng,
                self.kernel_list,
                self.kernel_prob,
                self.blur_sigma2 if second else self.blur_sigma,
                self.betag_range,
                self.betap_range,
                self.sinc_prob2 if second else self.sinc_prob,
                self.kernel_size,
            )
            img = blur(img, kernel)
        up, down, _ = getattr(self, f"resize_prob{s}")
        low, high = getattr(self, f"resize_range{s}")
        which = rng.choice(3, p=np.asarray([up, down, _]) / (up + down + _))
        factor = float(rng.uniform(1, high)) if which == 0 else float(rng.uniform(low, 1)) if which == 1 else 1.0
        mode = str(rng.choice(MODES))
        h, w = img.shape[-2:]
        target = (max(1, int(size[0] * factor)), max(1, int(size[1] * factor))) if second else None
        img = resize(img, target or (max(1, int(h * factor)), max(1, int(w * factor))), mode)
        gray = rng.uniform() < getattr(self, f"gray_noise_prob{s}")
        if rng.uniform() < getattr(self, f"gaussian_noise_prob{s}"):
            img = add_gaussian_noise(img, float(rng.uniform(*getattr(self, f"noise_range{s}"))), gray, rng)
        else:
            img = add_poisson_noise(img, float(rng.uniform(*getattr(self, f"poisson_scale_range{s}"))), gray, rng)
        if second:
            return img
        return jpeg(img, int(rng.integers(int(self.jpeg_range[0]), int(self.jpeg_range[1]) + 1)))

    def __call__(self, hr: np.ndarray, scale: int, rng: np.random.Generator) -> np.ndarray:
        """The uint8 LR (H/scale x W/scale) of a uint8 HR (H x W x 3) crop."""
        img = torch.from_numpy(np.array(hr, dtype=np.float32)).permute(2, 0, 1) / 255.0
        out_size = (hr.shape[0] // scale, hr.shape[1] // scale)
        img = self._order(img, rng, None, second=False)
        mid = (hr.shape[0] // scale, hr.shape[1] // scale)  # the second resize is relative to the LR size
        img = self._order(img, rng, mid, second=True)
        mode = str(rng.choice(MODES))
        final_sinc = sinc(int(rng.choice(np.arange(7, 22, 2))), float(rng.uniform(np.pi / 3, np.pi)))
        use_sinc = rng.uniform() < self.final_sinc_prob
        quality = int(rng.integers(int(self.jpeg_range2[0]), int(self.jpeg_range2[1]) + 1))
        if rng.uniform() < 0.5:  # resize + sinc, then JPEG
            img = resize(img, out_size, mode)
            img = blur(img, final_sinc) if use_sinc else img
            img = jpeg(img, quality)
        else:  # JPEG, then resize + sinc
            img = jpeg(img, quality)
            img = resize(img, out_size, mode)
            img = blur(img, final_sinc) if use_sinc else img
        return (img.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
