"""Blur kernels of Real-ESRGAN's degradation model (Wang et al., ICCVW 2021, Sec. 3.1):
isotropic and anisotropic Gaussian, generalized Gaussian, plateau, and the 2-D sinc
(circular low-pass) that imitates ringing and overshoot. Every kernel sums to 1."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["mesh", "gaussian", "generalized_gaussian", "plateau", "sinc", "bessel_j1", "random_kernel"]


def mesh(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of a size x size kernel, centred on 0."""
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2
    return np.meshgrid(r, r, indexing="xy")


def _quadratic(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """x^T Sigma^-1 x for the covariance of std (sigma_x, sigma_y) rotated by ``theta``."""
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    cov = rot @ np.diag([sigma_x**2, sigma_y**2]) @ rot.T
    inv = np.linalg.inv(cov)
    x, y = mesh(size)
    return inv[0, 0] * x * x + (inv[0, 1] + inv[1, 0]) * x * y + inv[1, 1] * y * y


def _normalised(k: np.ndarray) -> np.ndarray:
    return k / k.sum()


def gaussian(size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0) -> np.ndarray:
    """exp(-x^T Sigma^-1 x / 2); isotropic when ``sigma_y`` is None."""
    return _normalised(np.exp(-0.5 * _quadratic(size, sigma_x, sigma_x if sigma_y is None else sigma_y, theta)))


def generalized_gaussian(size: int, sigma_x: float, sigma_y: float, theta: float, beta: float) -> np.ndarray:
    """exp(-(x^T Sigma^-1 x / 2)^beta): beta < 1 a sharper peak with heavier tails, > 1 flatter."""
    return _normalised(np.exp(-np.power(0.5 * _quadratic(size, sigma_x, sigma_y, theta), beta)))


def plateau(size: int, sigma_x: float, sigma_y: float, theta: float, beta: float) -> np.ndarray:
    """1 / (1 + (x^T Sigma^-1 x)^beta): a flat top with a fast fall-off."""
    return _normalised(1.0 / (1.0 + np.power(_quadratic(size, sigma_x, sigma_y, theta), beta)))


def bessel_j1(x: np.ndarray) -> np.ndarray:
    """Bessel function of the first kind of order 1 (``torch.special.bessel_j1``, float64)."""
    import torch

    return torch.special.bessel_j1(torch.as_tensor(np.asarray(x, np.float64))).numpy()


def sinc(size: int, cutoff: float) -> np.ndarray:
    """Circular low-pass of ``cutoff`` (radians per pixel): cutoff J1(cutoff r) / (2 pi r), its
    value at r = 0 being cutoff^2 / (4 pi). Its side lobes make ringing and overshoot."""
    x, y = mesh(size)
    r = np.hypot(x, y)
    safe = np.where(r == 0, 1.0, r)
    k = np.where(r == 0, cutoff**2 / (4 * np.pi), cutoff * bessel_j1(cutoff * safe) / (2 * np.pi * safe))
    return _normalised(k)


KINDS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")


def random_kernel(
    rng: np.random.Generator,
    kinds: tuple[str, ...],
    probs: tuple[float, ...],
    sigma: tuple[float, float],
    betag: tuple[float, float],
    betap: tuple[float, float],
    sinc_prob: float,
    size_range: tuple[int, int] = (7, 21),
) -> np.ndarray:
    """One blur kernel as Real-ESRGAN draws it: an odd size in ``size_range``; with ``sinc_prob``
    a sinc (cutoff pi/3..pi, or pi/5..pi for sizes under 13), else a kernel of ``kinds`` drawn with
    ``probs``, sigmas in ``sigma``, a uniform angle and shape parameters in ``betag``/``betap``."""
    size = int(rng.choice(np.arange(size_range[0], size_range[1] + 1, 2)))
    if rng.uniform() < sinc_prob:
        low = np.pi / 3 if size >= 13 else np.pi / 5
        return sinc(size, float(rng.uniform(low, np.pi)))
    kind = str(rng.choice(kinds, p=np.asarray(probs) / np.sum(probs)))
    sx = float(rng.uniform(*sigma))
    sy, theta = (
        (sx, 0.0)
        if kind.endswith("iso") and not kind.endswith("aniso")
        else (float(rng.uniform(*sigma)), float(rng.uniform(-np.pi, np.pi)))
    )
    if kind.startswith("generalized"):
        beta = float(rng.uniform(betag[0], 1)) if rng.uniform() < 0.5 else float(rng.uniform(1, betag[1]))
        return generalized_gaussian(size, sx, sy, theta, beta)
    if kind.startswith("plateau"):
        beta = float(rng.uniform(betap[0], 1)) if rng.uniform() < 0.5 else float(rng.uniform(1, betap[1]))
        return plateau(size, sx, sy, theta, beta)
    return gaussian(size, sx, sy, theta)
