"""Image-quality metrics under the field's standard SR protocol.

PSNR and SSIM are computed on the Y channel of ITU-R BT.601 YCbCr (16..235)
after shaving ``scale`` pixels off every border, on 0..255 values. SSIM is
Wang et al. (2004) with an 11x11 Gaussian window (sigma 1.5), K1=0.01, K2=0.03,
'valid' filtering, as in their MATLAB ``ssim_index``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["rgb_to_y", "shave", "psnr", "ssim", "mse", "evaluate_pair"]


def _as_float255(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img.astype(np.float64)
    if img.dtype == np.uint16:
        return img.astype(np.float64) / 257.0
    return np.asarray(img, dtype=np.float64) * 255.0  # float images are taken to be in [0, 1]


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """BT.601 luma in [16, 235] (float, 0..255 scale) of an RGB or grayscale image."""
    x = _as_float255(img)
    if x.ndim == 2:
        x = np.repeat(x[..., None], 3, axis=2)
    return x[..., :3] @ np.array([65.481, 128.553, 24.966]) / 255.0 + 16.0


def shave(img: np.ndarray, border: int) -> np.ndarray:
    return img[border:-border, border:-border] if border > 0 else img


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error of two same-shape float arrays."""
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    err = mse(a, b)
    return float("inf") if err == 0 else float(10.0 * np.log10(data_range**2 / err))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    ax = np.arange(size) - (size - 1) / 2
    g = np.exp(-(ax**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation with the 1-D window ``g`` on both axes."""
    k = g.size
    view = np.lib.stride_tricks.sliding_window_view(x, k, axis=0) @ g
    return np.lib.stride_tricks.sliding_window_view(view, k, axis=1) @ g


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM of two grayscale images (Wang et al. 2004, Eq. 13)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"ssim needs two 2-D arrays of equal shape, got {a.shape} and {b.shape}")
    g = _gaussian_window()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    saa = _filter_valid(a * a, g) - mu_a**2
    sbb = _filter_valid(b * b, g) - mu_b**2
    sab = _filter_valid(a * b, g) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * sab + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2)
    return float(np.mean(num / den))


def evaluate_pair(sr: np.ndarray, hr: np.ndarray, border: int) -> dict[str, float]:
    """PSNR/SSIM on shaved Y (0..255) and MSE on shaved RGB in [0, 1], as the spec reports it."""
    if sr.shape[:2] != hr.shape[:2]:
        raise ValueError(f"SR {sr.shape} and HR {hr.shape} differ in size")
    ys, yh = shave(rgb_to_y(sr), border), shave(rgb_to_y(hr), border)
    rgb_s = shave(_as_float255(sr), border) / 255.0
    rgb_h = shave(_as_float255(hr), border) / 255.0
    if rgb_s.ndim != rgb_h.ndim:  # grayscale vs RGB: compare luminance planes
        rgb_s, rgb_h = ys / 255.0, yh / 255.0
    return {"psnr": psnr(ys, yh), "ssim": ssim(ys, yh), "mse": mse(rgb_s, rgb_h)}
