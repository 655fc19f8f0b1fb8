"""Faithfulness tools: how far an SR output is from what its input supports.

- :func:`lr_consistency`: PSNR(downscale(SR), LR) with the same MATLAB bicubic
  that makes benchmark LR images. A faithful SR scores high; detail that
  contradicts the input lowers it.
- :func:`enforce_consistency`: the exact L2 projection of SR onto the set
  {x : downscale(x) = LR}. The bicubic operator is separable, D x = Wh X Ww^T, so
  the projection x + D^T (D D^T)^-1 (y - D x) factorises per axis; a few
  project-and-clip rounds keep pixels in [0, 1].
- :func:`hallucination_map`: where an output departs from the MMSE estimate
  (SRResNet) in high frequencies, combined with local LR inconsistency.
"""

from __future__ import annotations

import numpy as np

from .imresize import imresize, resize_weights
from .metrics import psnr

__all__ = [
    "RESTORING_NOTE",
    "downscale",
    "lr_consistency",
    "enforce_consistency",
    "hallucination_map",
    "overlay",
    "with_legend",
]


def _planes(img: np.ndarray) -> np.ndarray:
    return img[..., None] if img.ndim == 2 else img


def downscale(sr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB-bicubic x1/scale of a float image in [0, 1] (no rounding)."""
    return imresize(np.asarray(sr, np.float64), 1 / scale)


def lr_consistency(sr: np.ndarray, lr: np.ndarray, scale: int) -> float:
    """PSNR (dB, 0..255 scale, all channels) between downscale(SR) and the LR input.

    ``sr`` and ``lr`` are float in [0, 1] or uint8; gray and colour both work.
    """
    d = _planes(downscale(_as_unit(sr), scale))
    low = _planes(_as_unit(lr))
    if d.shape != low.shape:
        raise ValueError(f"downscaled SR {d.shape} does not match LR {low.shape}; is the scale right?")
    return psnr(d * 255.0, low * 255.0)


RESTORING_NOTE = (
    "this model was trained to remove JPEG blocks, noise and blur, so the LR-consistency score counts "
    "what it removed as inconsistency: it is a lower bound on faithfulness, comparable between restoring "
    "models but not with bicubic-trained ones; --enforce-consistency would put the artefacts back"
)


def _as_unit(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img.astype(np.float64) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float64) / 65535.0
    return np.asarray(img, np.float64)


MAX_PROJECTION_SIDE = 2048  # LR pixels per side: the projection's dense per-axis matrices stay under ~150 MB


def enforce_consistency(sr: np.ndarray, lr: np.ndarray, scale: int, rounds: int = 3) -> np.ndarray:
    """Project ``sr`` so that its bicubic downscale equals ``lr`` (up to clipping and quantisation).

    Returns float64 in [0, 1] of the shape of ``sr``. The per-axis operators are dense, so the LR
    may be at most :data:`MAX_PROJECTION_SIDE` pixels per side (ValueError beyond).
    """
    y = _planes(_as_unit(lr))
    if max(y.shape[:2]) > MAX_PROJECTION_SIDE:
        raise ValueError(
            f"consistency enforcement supports inputs up to {MAX_PROJECTION_SIDE} px per side, got "
            f"{y.shape[1]}x{y.shape[0]}"
        )
    x = _planes(_as_unit(sr)).copy()
    h, w = x.shape[:2]
    wh = resize_weights(h, y.shape[0], y.shape[0] / h)  # (h/s, h)
    ww = resize_weights(w, y.shape[1], y.shape[1] / w)  # (w/s, w)
    # right-inverse factors: D^T (D D^T)^-1 per axis
    ph = wh.T @ np.linalg.inv(wh @ wh.T)  # (h, h/s)
    pw = ww.T @ np.linalg.inv(ww @ ww.T)  # (w, w/s)
    for _ in range(rounds):
        for c in range(x.shape[2]):
            resid = y[..., c] - wh @ x[..., c] @ ww.T
            x[..., c] += ph @ resid @ pw.T
        np.clip(x, 0.0, 1.0, out=x)
    return x[..., 0] if sr.ndim == 2 else x


def _gauss_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    r = max(1, int(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    pad = np.pad(x, ((r, r), (r, r)), mode="reflect")
    tmp = np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 0, pad)
    return np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 1, tmp)


def _luma(img: np.ndarray) -> np.ndarray:
    img = _planes(_as_unit(img))
    return img[..., 0] if img.shape[2] == 1 else img[..., :3] @ np.array([0.299, 0.587, 0.114])


def hallucination_map(
    sr: np.ndarray, reference: np.ndarray, lr: np.ndarray, scale: int, sigma: float = 2.0
) -> np.ndarray:
    """HxW map in [0, 1]: high-frequency energy of (SR - MMSE reference), plus local
    inconsistency of downscale(SR) with the LR, both smoothed and normalised.

    The high-frequency term is in absolute units (RMS of the high-passed
    difference over 0.1, i.e. 10% of full scale, saturates at 1), so a faithful
    output stays dark instead of having its noise stretched to full range.
    """
    diff = _luma(sr) - _luma(reference)
    high = diff - _gauss_blur(diff, sigma)
    energy = np.sqrt(_gauss_blur(high**2, 2 * sigma))
    hf = np.clip(energy / 0.1, 0, 1)
    d = _luma(downscale(_as_unit(sr), scale)) - _luma(lr)
    lr_err = np.sqrt(_gauss_blur(d**2, 1.0))
    inconsistency = np.clip(imresize(lr_err, output_shape=diff.shape) / 0.05, 0, 1)
    return np.clip(np.maximum(hf, inconsistency), 0, 1)


def overlay(image: np.ndarray, heat: np.ndarray, strength: float = 0.6) -> np.ndarray:
    """uint8 RGB: the image in gray with the map as a 'magma' heat overlay."""
    import matplotlib

    gray = _luma(image)
    colors = matplotlib.colormaps["magma"](heat)[..., :3]
    a = strength * heat[..., None]
    out = (1 - a) * gray[..., None] + a * colors
    return np.clip(np.floor(out * 255 + 0.5), 0, 255).astype(np.uint8)


LEGEND_UNITS = (  # the longest that fits is drawn
    "1 = high-frequency departure from the MMSE estimate of 10% RMS, or LR error of 5%",
    "1 = 10% RMS detail not in the MMSE estimate, or 5% LR error",
    "1 = 10% RMS new detail or 5% LR error",
    "1=10% RMS detail/5% LR err",
)


def with_legend(image: np.ndarray, height: int = 36) -> np.ndarray:
    """``image`` (uint8 RGB, an :func:`overlay`) with a colour bar under it: the 'magma' scale of
    the map from 0 (faithful) to 1 (invented or inconsistent) and its units (those of
    :func:`hallucination_map`). Same width."""
    import matplotlib
    from PIL import Image, ImageDraw

    w = image.shape[1]
    bar = (matplotlib.colormaps["magma"](np.linspace(0, 1, w))[:, :3] * 255).astype(np.uint8)
    strip = np.full((height, w, 3), 255, np.uint8)
    strip[2:11] = bar[None]
    canvas = Image.fromarray(strip)
    draw = ImageDraw.Draw(canvas)
    left, right = ("0 faithful", "invented 1") if w >= 130 else ("0", "1")
    draw.text((1, 12), left, fill=(0, 0, 0))
    draw.text((max(0, w - 1 - int(draw.textlength(right))), 12), right, fill=(0, 0, 0))
    units = next((t for t in LEGEND_UNITS if draw.textlength(t) <= w - 2), LEGEND_UNITS[-1])
    draw.text((1, 24), units, fill=(60, 60, 60))
    return np.concatenate([image, np.asarray(canvas)], axis=0)
