"""The Python API: ``srgan.from_pretrained(name).upscale(image)``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Union

import numpy as np
import torch
from PIL import Image
from torch import nn

from .hub import (
    DEFAULT_MODEL,
    ModelFileError,
    blendable_models,
    interpolate_generators,
    load_generator,
    mmse_reference,
    resolve_model_path,
)
from .image_io import ImageData, all_finite, from_pil, quantize, to_pil
from .imresize import imresize
from .inference import DEFAULT_TILE, resolve_device, upscale_array
from .models.registry import get_arch

__all__ = ["SRModel", "from_pretrained"]

ImageLike = Union[Image.Image, np.ndarray, ImageData]
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def bicubic_upscale(img: ImageData, scale: int, color: bool = True) -> ImageData:
    """MATLAB-bicubic upscale of the alpha plane (and of the colour too, if ``color``), clipped to [0, 1]."""

    def up(plane: np.ndarray) -> np.ndarray:
        return np.clip(imresize(plane.astype(np.float64), scale), 0, 1).astype(np.float32)

    return img.with_pixels(up(img.color) if color else img.color, None if img.alpha is None else up(img.alpha))


class SRModel:
    """A loaded generator plus everything needed to upscale real images.

    Colour goes through the network; alpha is upscaled separately with
    MATLAB-compatible bicubic; gray images are upscaled as RGB and returned
    gray; 16-bit and float inputs keep their precision in and out.
    """

    def __init__(
        self,
        generator: nn.Module,
        config: dict[str, Any] | None = None,
        device: str = "auto",
        half: bool = False,
        tile: int | None = DEFAULT_TILE,
        workers: int = 1,
        precision: str | None = None,
        fast: bool = True,
        compile: bool = False,
    ) -> None:
        self.device = resolve_device(device)
        precision = precision or ("fp16" if half else "fp32")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if precision == "fp16" and self.device.type == "cpu":
            raise ValueError(
                "--half (fp16) needs a GPU (cuda or mps); fp16 on CPU is slow and inaccurate (bf16 works on CPU)"
            )
        self.precision = precision
        self.dtype = PRECISIONS[precision]
        generator = generator.eval()
        fast_path = get_arch(generator.arch).fast
        if fast and fast_path is not None:  # the architecture's exact inference form (e.g. BN folded into convs)
            generator = fast_path(generator)
        self.generator = generator.to(device=self.device, dtype=self.dtype)
        if compile:  # torch.compile the trunk and the tail; dynamic shapes for tiles of any size
            self.generator.features = torch.compile(self.generator.features, dynamic=True)  # type: ignore[method-assign]
            self.generator.reconstruct = torch.compile(self.generator.reconstruct, dynamic=True)  # type: ignore[method-assign]
        self.channels_last = True
        if self.channels_last:
            self.generator = self.generator.to(memory_format=torch.channels_last)
        self.config = dict(config or {})
        self.scale = generator.scale
        self.tile = tile
        self.workers = workers  # CPU: bands run by this many single-threaded workers
        self.name = self.config.get("name", generator.arch)

    @property
    def restores(self) -> bool:
        """Whether the model was trained on degraded LR (JPEG, noise, blur: a ``-real`` model), so that
        it removes, rather than keeps, what the input's artefacts are."""
        spec = (self.config.get("training", {}).get("recipe", {}).get("data", {}) or {}).get("degradation")
        return bool(spec) and spec != {"type": "bicubic"}

    def __repr__(self) -> str:
        return f"SRModel(name={self.name!r}, arch={self.generator.arch!r}, scale={self.scale}, device={self.device})"

    def upscale_data(
        self,
        img: ImageData,
        cancel: threading.Event | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> ImageData:
        """Upscale an :class:`ImageData` (any supported kind) and keep its metadata. ``cancel``:
        an event checked between tiles (``srgan.inference.Cancelled`` once it is set);
        ``progress(done, total)``: called after each tile."""
        color = upscale_array(
            self.generator,
            img.color if not img.is_gray else img.color[..., 0],
            self.scale,
            self.tile,
            self.device,
            self.channels_last,
            self.dtype,
            self.workers,
            cancel,
            progress,
        )
        if not all_finite(color):
            if self.precision == "fp16":
                raise FloatingPointError("the model produced NaN/Inf (fp16 overflow?): run again without --half")
            raise FloatingPointError(
                f"the model {self.name} produced NaN/Inf in {self.precision}: its weights are unusable for this input"
            )
        if img.is_gray:
            color = color.mean(axis=2, keepdims=True)
        return img.with_pixels(color, bicubic_upscale(img, self.scale, color=False).alpha)

    def upscale(self, image: ImageLike) -> ImageLike:
        """Upscale a PIL image, a numpy array (HxW, HxWx3, HxWx4; uint8, uint16 or float in [0, 1]) or an
        :class:`ImageData`; returns the same kind."""
        if isinstance(image, ImageData):
            return self.upscale_data(image)
        if isinstance(image, Image.Image):
            out = self.upscale_data(from_pil(image))
            return to_pil(out)
        if isinstance(image, np.ndarray):
            return self._upscale_array(image)
        raise TypeError(f"cannot upscale a {type(image).__name__}; pass a PIL.Image or a numpy array")

    def _upscale_array(self, arr: np.ndarray) -> np.ndarray:
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
            raise ValueError(f"expected HxW, HxWx1, HxWx3 or HxWx4, got shape {arr.shape}")
        if arr.dtype == np.uint8:
            hi = 255.0
        elif arr.dtype == np.uint16:
            hi = 65535.0
        elif np.issubdtype(arr.dtype, np.floating):
            if not np.isfinite(arr).all():
                raise ValueError("input contains NaN or infinity")
            if arr.min(initial=0) < 0 or arr.max(initial=0) > 1:
                raise ValueError("float input must be in [0, 1]")
            hi = 1.0
        else:
            raise ValueError(f"unsupported dtype {arr.dtype} (use uint8, uint16 or float in [0, 1])")
        x = arr.astype(np.float32) / hi
        squeeze = x.ndim == 2
        if squeeze:
            x = x[..., None]
        alpha = x[..., 3] if x.shape[2] == 4 else None
        data = ImageData(np.ascontiguousarray(x[..., :3] if x.shape[2] >= 3 else x), alpha)
        out = self.upscale_data(data)
        y = out.color if out.alpha is None else np.concatenate([out.color, out.alpha[..., None]], axis=2)
        if squeeze:
            y = y[..., 0]
        if hi == 1.0:
            return y.astype(arr.dtype)
        return quantize(y, 16 if hi > 255 else 8)


def from_pretrained(
    name_or_path: str | Path = DEFAULT_MODEL,
    device: str = "auto",
    half: bool = False,
    allow_pickle: bool = False,
    tile: int | None = DEFAULT_TILE,
    workers: int = 1,
    precision: str | None = None,
    fast: bool = True,
    alpha: float | None = None,
    reference: str | Path | None = None,
    models_dir: str | Path | None = None,
) -> SRModel:
    """Load a packaged model by name (see ``srgan models``) or a weight file.

    ``precision``: fp32 (default), fp16 (GPU; same as ``half=True``) or bf16.
    ``alpha``: perception-distortion knob; interpolates the weights between the
    PSNR-oriented ``reference`` (alpha = 0; default: :func:`srgan.hub.mmse_reference`)
    and this model (alpha = 1). ``models_dir``: a folder of further ``.safetensors`` models.
    Pickle files (``allow_pickle``) may hold any layout that :mod:`srgan.convert` recognises.
    """
    generator, cfg = load_generator(name_or_path, allow_pickle=allow_pickle, models_dir=models_dir)
    if alpha is not None:
        ref_name = reference or mmse_reference(cfg, generator.scale)
        same = (
            resolve_model_path(ref_name, models_dir).resolve() == resolve_model_path(name_or_path, models_dir).resolve()
        )
        if same:
            takers = ", ".join(blendable_models(models_dir)) or "none installed"
            raise ModelFileError(
                f"--alpha blends a perceptual model with its PSNR-oriented partner, and "
                f"{cfg.get('name', name_or_path)} is its own (nothing to blend); models that take --alpha: {takers}"
            )
        mmse, _ = load_generator(ref_name, allow_pickle=allow_pickle, models_dir=models_dir)
        generator = interpolate_generators(mmse, generator, float(alpha))
        cfg = {
            **cfg,
            "name": f"{cfg.get('name', 'model')}@alpha={float(alpha):g}",
            "alpha": float(alpha),
            "mmse_reference": str(ref_name),
        }
    return SRModel(generator, cfg, device=device, half=half, tile=tile, workers=workers, precision=precision, fast=fast)
