"""NIQE, a no-reference naturalness score (Mittal, Soundararajan & Bovik, IEEE SPL 2013).

Lower is more natural. The pristine model (``mu_pris_param``, ``cov_pris_param``,
``gaussian_window``) is not shipped: pass the path of an ``.npz`` holding it
(the one published with BasicSR reproduces MATLAB's numbers).

Per 96x96 block of the MSCN-normalised luma, at full and half resolution: an
asymmetric generalised Gaussian fit to the coefficients and to their products
with 4 neighbours (18 features per scale). The score is the Mahalanobis-like
distance between the fitted and the pristine multivariate Gaussians (Eq. 10).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from .imresize import imresize
from .metrics import rgb_to_y, shave

__all__ = ["load_pristine", "niqe", "niqe_image"]


def load_pristine(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path) as d:
        missing = {"mu_pris_param", "cov_pris_param", "gaussian_window"} - set(d.files)
        if missing:
            raise ValueError(f"{path}: missing {', '.join(sorted(missing))}")
        return {k: np.asarray(d[k], np.float64) for k in ("mu_pris_param", "cov_pris_param", "gaussian_window")}


_gamma = np.vectorize(math.gamma)


@lru_cache(maxsize=1)
def _gam_table() -> tuple[np.ndarray, np.ndarray]:
    gam = np.arange(0.2, 10.001, 0.001)
    r = 1.0 / gam
    return gam, _gamma(2 * r) ** 2 / (_gamma(r) * _gamma(3 * r))


def _aggd(x: np.ndarray) -> tuple[float, float, float]:
    """Moment-matching fit of an asymmetric generalised Gaussian: (shape, left scale, right scale)."""
    x = x.ravel()
    gam, r_gam = _gam_table()
    left = math.sqrt(np.mean(x[x < 0] ** 2)) if np.any(x < 0) else 0.0
    right = math.sqrt(np.mean(x[x > 0] ** 2)) if np.any(x > 0) else 0.0
    if left == 0 or right == 0:
        return float("nan"), float("nan"), float("nan")
    g = left / right
    rhat = np.mean(np.abs(x)) ** 2 / np.mean(x**2)
    rnorm = rhat * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    alpha = float(gam[np.argmin((r_gam - rnorm) ** 2)])
    k = math.sqrt(math.gamma(1 / alpha) / math.gamma(3 / alpha))
    return alpha, left * k, right * k


def _features(block: np.ndarray) -> list[float]:
    a, bl, br = _aggd(block)
    feats = [a, (bl + br) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a, bl, br = _aggd(block * np.roll(block, shift, axis=(0, 1)))
        mean = (br - bl) * (math.gamma(2 / a) / math.gamma(1 / a)) if np.isfinite(a) else float("nan")
        feats += [a, mean, bl, br]
    return feats


def _filter_nearest(x: np.ndarray, win: np.ndarray) -> np.ndarray:
    """Correlate with ``win`` (symmetric, so = convolution), replicating edges."""
    kh, kw = win.shape
    pad = np.pad(x, ((kh // 2, kh - 1 - kh // 2), (kw // 2, kw - 1 - kw // 2)), mode="edge")
    view = np.lib.stride_tricks.sliding_window_view(pad, win.shape)
    return np.einsum("ijkl,kl->ij", view, win)


def niqe(gray: np.ndarray, pristine: dict[str, np.ndarray], block: int = 96) -> float:
    """NIQE of a 2-D luma image on a 0..255 scale."""
    img = np.asarray(gray, np.float64)
    nh, nw = img.shape[0] // block, img.shape[1] // block
    if nh < 1 or nw < 1:
        raise ValueError(f"NIQE needs at least {block}x{block} pixels, got {img.shape}")
    img = img[: nh * block, : nw * block]
    win = pristine["gaussian_window"]
    per_scale = []
    for scale in (1, 2):
        mu = _filter_nearest(img, win)
        sigma = np.sqrt(np.abs(_filter_nearest(img * img, win) - mu * mu))
        mscn = (img - mu) / (sigma + 1)
        b = block // scale
        per_scale.append(
            np.array([_features(mscn[i * b : (i + 1) * b, j * b : (j + 1) * b]) for j in range(nw) for i in range(nh)])
        )
        if scale == 1:
            img = imresize(img / 255.0, 0.5) * 255.0
    feats = np.concatenate(per_scale, axis=1)
    mu_d = np.nanmean(feats, axis=0)
    cov_d = np.cov(feats[~np.isnan(feats).any(axis=1)], rowvar=False)
    diff = pristine["mu_pris_param"].ravel() - mu_d
    inv = np.linalg.pinv((pristine["cov_pris_param"] + cov_d) / 2)
    return float(np.sqrt(diff @ inv @ diff))


def niqe_image(img: np.ndarray, pristine: dict[str, np.ndarray], border: int = 0) -> float:
    """NIQE of an RGB or gray image (uint8, or float in [0, 1]) on its rounded BT.601 luma, as MATLAB."""
    y = np.round(shave(rgb_to_y(img), border))
    return niqe(y, pristine)
