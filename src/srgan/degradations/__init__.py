"""How training and benchmark LR images are made from HR: a table of degradations by name.

``bicubic`` (MATLAB-compatible, the benchmark protocol and the default), ``jpeg``, ``noise``,
``blur`` (one degradation after the bicubic downscale, or before it for blur) and ``realistic``
(Real-ESRGAN's second-order model, :mod:`.realistic`). A recipe selects one with
``data.degradation: {type: realistic, jpeg_range: [30, 95], ...}`` (or just ``realistic``);
``srgan degrade`` writes benchmark sets with the named :data:`PRESETS`. Adding one is a class
with ``lr(hr, scale, rng)`` (and ``file(hr, scale, rng)`` for its saved form) plus a line in
:data:`DEGRADATIONS`.
"""

from __future__ import annotations

import difflib
import inspect
import io
from typing import Any

import numpy as np
from PIL import Image

from ..imresize import imresize
from .kernels import gaussian
from .realistic import RealisticDegradation

__all__ = ["DEGRADATIONS", "PRESETS", "build_degradation", "Bicubic", "Jpeg", "Noise", "Blur", "Realistic"]


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def _decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


class Bicubic:
    """MATLAB-compatible bicubic downscale with 8-bit rounding: the benchmark protocol."""

    def lr(self, hr: np.ndarray, scale: int, rng: np.random.Generator) -> np.ndarray:
        return imresize(hr, 1 / scale)

    def file(self, hr: np.ndarray, scale: int, rng: np.random.Generator) -> tuple[bytes, str]:
        """The LR as the bytes of the file a user would have, and its extension."""
        return _png(self.lr(hr, scale, rng)), ".png"


class Jpeg(Bicubic):
    """Bicubic downscale, then a JPEG at ``quality`` (Pillow, 4:2:0): a photo from the web.
    ``quality`` is a number, or ``[low, high]`` to draw one per sample."""

    def __init__(self, quality: int | list[int] = 70) -> None:
        low, high = (quality, quality) if isinstance(quality, (int, float)) else quality
        if not 1 <= low <= high <= 100:
            raise ValueError(f"quality must be in [1, 100], got {quality}")
        self.low, self.high = int(low), int(high)

    def file(self, hr: np.ndarray, scale: int, rng: np.random.Generator) -> tuple[bytes, str]:
        quality = self.low if self.low == self.high else int(rng.integers(self.low, self.high + 1))
        buf = io.BytesIO()
        Image.fromarray(imresize(hr, 1 / scale)).save(buf, "JPEG", quality=quality)
        return buf.getvalue(), ".jpg"

    def lr(self, hr: np.ndarray, scale: int, rng: np.random.Generator) -> np.ndarray:
        return _decode(self.file(hr, scale, rng)[0])


class Noise(Bicubic):
    """Bicubic downscale, then colour Gaussian noise of std ``sigma`` (8-bit levels), rounded."""

    def __init__(self, sigma: float = 10.0) -> None:
        if sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}")
        self.sigma = sigma

    def lr(self, hr: np.ndarray, scale: int, rng: np.random.Generator) -> np.ndarray:
        low = imresize(hr, 1 / scale).astype(np.float64)
        return np.clip(np.floor(low + rng.normal(0, self.sigma, low.shape) + 0.5), 0, 255).astype(np.uint8)


class Blur(Bicubic):
    """Gaussian blur of std ``sigma`` (HR pixels) before the bicubic downscale: an out-of-focus camera."""

    def __init__(self, sigma: float = 2.0) -> None:
        if sigma <= 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        self.sigma = sigma

    def lr(self, hr: np.ndarray, scale: int, rng: np.random.Generator) -> np.ndarray:
        import torch

        from .realistic import blur

        size = 2 * int(np.ceil(3 * self.sigma)) + 1
        img = torch.from_numpy(np.array(hr, dtype=np.float32)).permute(2, 0, 1)
        soft = blur(img, gaussian(size, self.sigma)).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
        return imresize(np.ascontiguousarray(soft), 1 / scale)


class Realistic(Bicubic):
    """Real-ESRGAN's second-order degradation (:class:`.realistic.RealisticDegradation`); its
    keyword arguments are that class's fields."""

    def __init__(self, **params: Any) -> None:
        self.model = RealisticDegradation(**params)

    def lr(self, hr: np.ndarray, scale: int, rng: np.random.Generator) -> np.ndarray:
        return self.model(hr, scale, rng)


class Mix(Bicubic):
    """One of several degradations per sample: ``options`` (specs as for :func:`build_degradation`)
    drawn with weights ``probs``, e.g. half realistic, half clean downscales with JPEG."""

    def __init__(self, options: list = ("realistic", "bicubic"), probs: list[float] | None = None) -> None:
        self.options = [build_degradation(o) for o in options]
        p = np.asarray(probs if probs is not None else [1.0] * len(self.options), np.float64)
        if len(p) != len(self.options) or (p < 0).any() or p.sum() <= 0:
            raise ValueError(f"probs must be {len(self.options)} non-negative weights, got {probs}")
        self.probs = p / p.sum()

    def lr(self, hr: np.ndarray, scale: int, rng: np.random.Generator) -> np.ndarray:
        return self.options[int(rng.choice(len(self.options), p=self.probs))].lr(hr, scale, rng)


DEGRADATIONS: dict[str, type[Bicubic]] = {
    "mix": Mix,
    "bicubic": Bicubic,
    "jpeg": Jpeg,
    "noise": Noise,
    "blur": Blur,
    "realistic": Realistic,
}

# named settings for `srgan degrade` and `srgan evaluate --degradation`: a real-world benchmark anyone can rebuild
PRESETS: dict[str, dict[str, Any]] = {
    "jpeg30": {"type": "jpeg", "quality": 30},
    "jpeg50": {"type": "jpeg", "quality": 50},
    "jpeg70": {"type": "jpeg", "quality": 70},
    "jpeg90": {"type": "jpeg", "quality": 90},
    "noise10": {"type": "noise", "sigma": 10.0},
    "blur2": {"type": "blur", "sigma": 2.0},
    "realistic": {"type": "realistic"},
}


def build_degradation(spec: str | dict[str, Any]) -> Bicubic:
    """A degradation from a preset name, a type name, or ``{type, ...params}``; ValueError naming
    an unknown type or parameter."""
    if isinstance(spec, str):
        spec = PRESETS.get(spec, {"type": spec})
    spec = dict(spec)
    kind = str(spec.pop("type", "bicubic"))
    if kind in PRESETS and kind not in DEGRADATIONS:  # {type: jpeg70} is the preset
        spec = {**PRESETS[kind], **spec}
        kind = str(spec.pop("type"))
    if kind not in DEGRADATIONS:
        close = difflib.get_close_matches(kind, [*DEGRADATIONS, *PRESETS], n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ValueError(
            f"unknown degradation '{kind}'{hint}; types: {', '.join(DEGRADATIONS)}; presets: {', '.join(PRESETS)}"
        )
    cls = DEGRADATIONS[kind]
    if cls is Realistic:
        known = [f for f in inspect.signature(RealisticDegradation).parameters]
    else:
        known = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for key in spec:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (it takes {', '.join(known) or 'nothing'})"
            raise ValueError(f"degradation '{kind}' has no parameter '{key}'{hint}")
    try:
        return cls(**spec)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"degradation '{kind}': {exc}") from None
