"""Artefact measures of SR outputs against HR, per image (``srgan evaluate --artefacts``).

- colour shift: max over R, G, B of |mean(SR) - mean(HR)|, in 8-bit levels;
- chroma error: mean |Cb(SR) - Cb(HR)| and |Cr(SR) - Cr(HR)| per pixel (BT.601), in 8-bit
  levels: local false colour (a line beaded with blue) that leaves the mean colour alone;
- checkerboard: luma power at the frequencies of a period-2 and period-4 pattern on the output
  grid (what a x2 PixelShuffle twice can imprint), over HR's power there (about 1: no more
  periodic structure than the ground truth);
- grid level: that pattern's RMS amplitude in 8-bit luma levels (below about 1 it cannot be seen);
- block: RMS difference between SR and HR of the mean edge strength by sub-pixel phase
  (:func:`srgan.losses.block_loss`, x100): texture drawn as a mesh on the blocks that each LR
  pixel becomes (0: as even as HR);
- sharpness: gradient energy over HR's;
- edge overshoot (:func:`edge_overshoot`): the halo along HR's step edges beyond HR's own
  levels there, in luma levels (0 for HR by construction);
- edge halo (:func:`edge_halo`): the halo of an image's own profile across HR's clean step edges,
  beyond the levels of the edge's two sides in that image; it applies to HR itself, whose camera
  sharpening draws halos too, so a model's halo can be compared with the ground truth's;
- edge ringing (:func:`edge_ringing`): variation along HR's step edges that HR does not have, in
  luma levels: a second line beside an edge even where it stays inside the edge's range;
- shift consistency (:func:`shift_consistency`): translation equivariance in dB.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from .imresize import imresize
from .losses import block_loss, chroma_loss
from .metrics import rgb_to_y, shave

__all__ = [
    "MEASURES",
    "measures",
    "colour_shift",
    "periodic_power",
    "grid_level",
    "lattice_levels",
    "worst_lattice_tile",
    "block",
    "chroma_error",
    "sharpness",
    "gradient_energy",
    "shift_error",
    "shift_consistency",
    "shift_profile",
    "edge_overshoot",
    "edge_ringing",
    "edge_profiles",
    "edge_halo",
]


def _rgb(img: np.ndarray) -> np.ndarray:
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img


def colour_shift(sr: np.ndarray, hr: np.ndarray) -> float:
    sr, hr = _rgb(sr), _rgb(hr)
    d = sr.reshape(-1, 3).astype(np.float64).mean(0) - hr.reshape(-1, 3).astype(np.float64).mean(0)
    return float(np.abs(d).max())


def periodic_power(img: np.ndarray) -> float:
    """Luma power at the frequencies (i*H/4, j*W/4), i, j in 0..3, except DC."""
    y = rgb_to_y(_rgb(img))
    h, w = (y.shape[0] // 4) * 4, (y.shape[1] // 4) * 4
    y = y[:h, :w] - y[:h, :w].mean()
    f = np.abs(np.fft.fft2(y)) ** 2
    bins = [(i * h // 4, j * w // 4) for i in range(4) for j in range(4) if i or j]
    return float(sum(f[a, b] for a, b in bins))


def grid_level(img: np.ndarray) -> float:
    """RMS amplitude, in 8-bit luma levels, of the period-2/4 pattern that periodic_power measures (Parseval)."""
    h, w = (img.shape[0] // 4) * 4, (img.shape[1] // 4) * 4
    return float(np.sqrt(periodic_power(img)) / (h * w))


def lattice_levels(img: np.ndarray, tile: int = 48, stride: int = 16) -> np.ndarray:
    """grid_level of every tile x tile window at the given stride: an array [rows, cols]."""
    ys, xs = range(0, img.shape[0] - tile + 1, stride), range(0, img.shape[1] - tile + 1, stride)
    return np.array([[grid_level(img[y : y + tile, x : x + tile]) for x in xs] for y in ys])


def worst_lattice_tile(sr_levels: np.ndarray, hr_levels: np.ndarray, stride: int = 16) -> tuple[int, int, float, float]:
    """The tile where SR's period-2/4 pattern most exceeds HR's, from two lattice_levels maps:
    (y, x, SR level, HR level).

    A local checkerboard (a mesh in one patch of grass) that the whole-image measure dilutes shows
    here; a content edge that falls on the lattice scores in HR too, and so does not.
    """
    r, c = np.unravel_index(np.argmax(sr_levels - hr_levels), sr_levels.shape)
    return int(r) * stride, int(c) * stride, float(sr_levels[r, c]), float(hr_levels[r, c])


def _tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(_rgb(img).astype(np.float32) / 255).permute(2, 0, 1)[None]


def block(sr: np.ndarray, hr: np.ndarray, scale: int = 4) -> float:
    """srgan.losses.block_loss of SR against HR (x100), on RGB in [0, 1]."""
    return 100 * block_loss(_tensor(sr), _tensor(hr), scale).item()


def chroma_error(sr: np.ndarray, hr: np.ndarray) -> float:
    """srgan.losses.chroma_loss of SR against HR, in 8-bit levels."""
    return 255 * chroma_loss(_tensor(sr), _tensor(hr)).item()


SHIFTS = ((1, 1), (2, 2), (0, 3), (2, 1))  # HR pixels (dy, dx); none a multiple of the scale on both axes


def shift_error(
    upscale: Callable[[np.ndarray], np.ndarray],
    hr: np.ndarray,
    scale: int = 4,
    shifts: Sequence[tuple[int, int]] = SHIFTS,
) -> np.ndarray:
    """Per-pixel squared Y difference (8-bit levels) between ``upscale`` of the LR of ``hr`` moved
    by (dy, dx) HR pixels and the output of the unmoved LR moved by the same amount, averaged over
    ``shifts``; the map covers the outputs' whole overlap. ``upscale`` maps a uint8 LR array to a
    uint8 SR array, as ``SRModel.upscale`` does."""
    hr = _rgb(hr)
    sy, sx = max(dy for dy, _ in shifts), max(dx for _, dx in shifts)
    h, w = (hr.shape[0] - sy) // scale * scale, (hr.shape[1] - sx) // scale * scale
    base = rgb_to_y(_rgb(upscale(imresize(hr[:h, :w], 1 / scale)))).astype(np.float64)
    err = np.zeros((h - sy, w - sx))
    for dy, dx in shifts:
        moved = rgb_to_y(_rgb(upscale(imresize(hr[dy : dy + h, dx : dx + w], 1 / scale))))
        err += (base[dy : h - sy + dy, dx : w - sx + dx] - moved[: h - sy, : w - sx]) ** 2 / len(shifts)
    return err


def _psnr(mse: float) -> float:
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


def shift_consistency(
    upscale: Callable[[np.ndarray], np.ndarray],
    hr: np.ndarray,
    scale: int = 4,
    shifts: Sequence[tuple[int, int]] = SHIFTS,
    band: int = 16,
) -> tuple[float, float]:
    """Translation equivariance of a model on one image (EQ-T, Karras et al. 2021), as PSNRs in
    dB of :func:`shift_error` (Y channel; higher is better): over the whole image, and over the
    ``band`` output pixels along its edges.

    Detail that follows the content scores high; a pattern tied to the x``scale`` output lattice
    (a dotted ladder along an edge, a mesh of block-boundary strokes) lands elsewhere and scores
    low. The border band shows such a pattern where a model draws it only near the image's edges."""
    err = shift_error(upscale, hr, scale, shifts)
    edge = np.ones(err.shape, bool)
    edge[band:-band, band:-band] = False
    return _psnr(err.mean()), _psnr(err[edge].mean())


def shift_profile(err: np.ndarray, bands: Sequence[int], interior: int = 64) -> dict[str, list[tuple[float, int]]]:
    """Sums and counts of a :func:`shift_error` map by distance from each edge: for ``side`` in
    left/right/top/bottom, one (sum, count) per band ``[bands[i], bands[i + 1])`` px from that edge,
    over pixels at least ``interior`` px from the other three edges."""
    h, w = err.shape
    yy, xx = np.mgrid[0:h, 0:w]
    dist = {"left": xx, "right": w - 1 - xx, "top": yy, "bottom": h - 1 - yy}
    out = {}
    for side, d in dist.items():
        others = np.minimum.reduce([v for k, v in dist.items() if k != side])
        out[side] = [
            (float(err[sel].sum()), int(sel.sum()))
            for lo, hi in zip(bands, bands[1:])
            for sel in [(d >= lo) & (d < hi) & (others >= interior)]
        ]
    return out


def gradient_energy(img: np.ndarray, border: int) -> float:
    """Mean gradient magnitude of the Y channel, ``border`` pixels shaved."""
    y = shave(rgb_to_y(_rgb(img)), border)
    gy, gx = np.gradient(y)
    return float(np.mean(np.hypot(gx, gy)))


def sharpness(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """Gradient energy of SR over that of HR: 1 is as sharp as the ground truth; bicubic and MSE
    models score well below 1, a model that draws texture near or above it."""
    return gradient_energy(sr, border) / max(gradient_energy(hr, border), 1e-12)


def _running(y: np.ndarray, radius: int, op) -> np.ndarray:
    """Max or min (``op``) over the (2 radius + 1)^2 window around each pixel, edges replicated."""
    from numpy.lib.stride_tricks import sliding_window_view

    k = 2 * radius + 1
    p = np.pad(y, radius, mode="edge")
    return op(sliding_window_view(op(sliding_window_view(p, k, axis=0), axis=-1), k, axis=1), axis=-1)


def _luma(img: np.ndarray) -> np.ndarray:
    return rgb_to_y(_rgb(img)).astype(np.float64)


def _steps(yh: np.ndarray, threshold: float, margin: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """HR's luma gradient (gy, gx, magnitude) and the mask of its step pixels (a gradient of at
    least ``threshold`` levels per pixel), ``margin`` px from the border excluded."""
    gy, gx = np.gradient(yh)
    mag = np.hypot(gx, gy)
    edge = mag >= threshold
    edge[:margin], edge[-margin:], edge[:, :margin], edge[:, -margin:] = False, False, False, False
    return gy, gx, mag, edge


def _lumas_and_steps(
    sr: np.ndarray, hr: np.ndarray, radius: int, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SR's and HR's luma (float64) and the mask of HR's step pixels, ``radius`` px from the border excluded."""
    yh = _luma(hr)
    return _luma(sr), yh, _steps(yh, threshold, radius)[3]


def edge_overshoot(sr: np.ndarray, hr: np.ndarray, radius: int = 4, threshold: float = 24.0) -> float:
    """Halo along edges, in 8-bit luma levels: at pixels where HR has a step (a luma gradient of
    at least ``threshold`` levels per pixel), how far SR's luma goes beyond HR's extremes in the
    (2 radius + 1)^2 window around them (above HR's maximum plus below its minimum), averaged over
    those pixels. A blurred or exact edge scores 0; ringing, a dark double line or a bright rim
    along the edge score their amplitude. 0 when HR has no such edge."""
    ys, yh, edge = _lumas_and_steps(sr, hr, radius, threshold)
    if not edge.any():
        return 0.0
    over = np.maximum(_running(ys, radius, np.max) - _running(yh, radius, np.max), 0)
    under = np.maximum(_running(yh, radius, np.min) - _running(ys, radius, np.min), 0)
    return float((over + under)[edge].mean())


def _window_variation(y: np.ndarray, radius: int) -> np.ndarray:
    """Total variation (|dx| + |dy|) in the (2 radius + 1)^2 window around each pixel, over the
    window's width: a monotone step of height h across the window scores h."""
    from numpy.lib.stride_tricks import sliding_window_view

    k = 2 * radius + 1
    tv = np.zeros_like(y)
    tv[:, :-1] += np.abs(np.diff(y, axis=1))
    tv[:-1] += np.abs(np.diff(y, axis=0))
    p = np.pad(tv, radius, mode="edge")
    return sliding_window_view(sliding_window_view(p, k, axis=0).sum(-1), k, axis=1).sum(-1) / k


def edge_ringing(sr: np.ndarray, hr: np.ndarray, radius: int = 4, threshold: float = 24.0) -> float:
    """Ringing along edges, in 8-bit luma levels: at pixels where HR has a step (as in
    :func:`edge_overshoot`), how much more variation SR's luma has than HR's in the
    (2 radius + 1)^2 window, averaged over those pixels. A monotone edge, sharp or blurred, adds
    none; a dark double line, a bright rim or ripples beside the edge add twice their depth, also
    where they stay between the edge's two sides (which :func:`edge_overshoot` cannot see).
    Texture that SR invents right at an edge counts too. 0 when HR has no such edge."""
    ys, yh, edge = _lumas_and_steps(sr, hr, radius, threshold)
    if not edge.any():
        return 0.0
    excess = np.maximum(_window_variation(ys, radius) - _window_variation(yh, radius), 0)
    return float(excess[edge].mean())


def _bilinear(y: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``y`` sampled at fractional (rows, cols), bilinearly; coordinates clipped to the image."""
    h, w = y.shape
    rows, cols = np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1)
    r0, c0 = np.minimum(rows.astype(int), h - 2), np.minimum(cols.astype(int), w - 2)
    fr, fc = rows - r0, cols - c0
    top = y[r0, c0] * (1 - fc) + y[r0, c0 + 1] * fc
    bottom = y[r0 + 1, c0] * (1 - fc) + y[r0 + 1, c0 + 1] * fc
    return top * (1 - fr) + bottom * fr


def edge_profiles(
    img: np.ndarray, hr: np.ndarray, reach: int = 4, side: int = 3, threshold: float = 24.0
) -> tuple[np.ndarray, np.ndarray]:
    """Luma profiles of ``img`` and ``hr`` across HR's step edges: at each edge pixel (a luma
    gradient of at least ``threshold`` levels per pixel that is the largest along its own
    direction, so one pixel per edge), ``2 (reach + side) + 1`` samples 1 px apart along HR's
    gradient, dark side first. Returns two (edges, samples) arrays, img's and HR's."""
    ys, yh = _luma(img), _luma(hr)
    n = reach + side
    gy, gx, mag, edge = _steps(yh, threshold, n + 1)
    r, c = np.nonzero(edge)
    ny, nx = gy[r, c] / mag[r, c], gx[r, c] / mag[r, c]
    ahead = mag[np.rint(r + ny).astype(int), np.rint(c + nx).astype(int)]
    behind = mag[np.rint(r - ny).astype(int), np.rint(c - nx).astype(int)]
    thin = (mag[r, c] >= ahead) & (mag[r, c] > behind)  # of two equal neighbours, the first
    r, c, ny, nx = r[thin], c[thin], ny[thin], nx[thin]
    t = np.arange(-n, n + 1, dtype=np.float64)
    rows, cols = r[:, None] + ny[:, None] * t, c[:, None] + nx[:, None] * t
    return _bilinear(ys, rows, cols), _bilinear(yh, rows, cols)


def edge_halo(
    img: np.ndarray,
    hr: np.ndarray,
    reach: int = 4,
    side: int = 3,
    threshold: float = 24.0,
    flat: float = 0.15,
    line: float = 0.5,
) -> float:
    """Halo of an image's own edges, in 8-bit luma levels, on HR's clean step edges.

    Across each edge (:func:`edge_profiles`), the image's profile within ``reach`` px of the edge
    is compared with its own samples ``reach + 1`` to ``reach + side`` px out on the two sides:
    how far it rises above the highest of them plus how far it falls below the lowest, averaged
    over the edges. A sharp or blurred monotone step scores 0; a dark line along the dark side
    and a bright rim along the bright side score the sum of their depths; noise within the
    noise adds about its own standard deviation. The edges are chosen on HR alone, so every image is
    measured on the same ones: a step of at least ``threshold`` levels between sides that are
    flat (each within ``flat`` times the step), and no thin line (HR's profile stays within
    ``line`` times the step of the sides' levels). Unlike :func:`edge_overshoot`, it measures HR
    too: ``edge_halo(hr, hr)`` is the ground truth's own halo (camera sharpening), the reference
    that a model's halo is held to. 0 when HR has no such edge.
    """
    prof, prof_hr = edge_profiles(img, hr, reach, side, threshold)
    dark, bright = np.median(prof_hr[:, :side], axis=1), np.median(prof_hr[:, -side:], axis=1)
    lo, hi = np.minimum(dark, bright), np.maximum(dark, bright)
    step, inner_hr = hi - lo, prof_hr[:, side:-side]
    clean = (
        (step >= threshold)
        & (np.ptp(prof_hr[:, :side], axis=1) <= flat * step)
        & (np.ptp(prof_hr[:, -side:], axis=1) <= flat * step)
        & (inner_hr.max(1) <= hi + line * step)
        & (inner_hr.min(1) >= lo - line * step)
    )
    if not clean.any():
        return 0.0
    prof = prof[clean]
    outer, inner = np.concatenate([prof[:, :side], prof[:, -side:]], axis=1), prof[:, side:-side]
    halo = np.maximum(inner.max(1) - outer.max(1), 0) + np.maximum(outer.min(1) - inner.min(1), 0)
    return float(halo.mean())


MEASURES = {
    "colour_shift": "colour shift",
    "chroma": "chroma error",
    "checkerboard": "checkerboard (x HR)",
    "grid": "grid level",
    "block": "block",
    "sharpness": "sharpness (x HR)",
    "overshoot": "edge overshoot",
    "ringing": "edge ringing",
    "halo": "edge halo (own sides)",
}


def measures(sr: np.ndarray, hr: np.ndarray, scale: int = 4) -> dict[str, float]:
    """The per-image artefact measures (keys of :data:`MEASURES`) of SR against HR."""
    return {
        "colour_shift": colour_shift(sr, hr),
        "chroma": chroma_error(sr, hr),
        "checkerboard": periodic_power(sr) / max(periodic_power(hr), 1e-12),
        "grid": grid_level(sr),
        "block": block(sr, hr, scale),
        "sharpness": sharpness(sr, hr, scale),
        "overshoot": edge_overshoot(sr, hr),
        "ringing": edge_ringing(sr, hr),
        "halo": edge_halo(sr, hr),
    }
