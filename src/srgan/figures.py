"""Figures: the spec's side-by-side comparisons and training curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["side_by_side", "nearest_upscale", "comparison_strip", "save_rgb"]


def nearest_upscale(img: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)


def side_by_side(
    panels: list[tuple[str, np.ndarray]], path: str | Path, title: str | None = None, provenance: dict | None = None
) -> Path:
    """Save labelled panels in one row (e.g. original | LR (nearest) | bicubic | model). A
    ``provenance`` record (:mod:`srgan.provenance`) is stored in a PNG text chunk."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h, w = panels[0][1].shape[:2]
    width = 4.0 * len(panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(width, 4.0 * h / w + (1.1 if title else 0.7)), squeeze=False)
    for ax, (label, img) in zip(axes[0], panels):
        ax.imshow(
            img,
            cmap="gray" if img.ndim == 2 else None,
            vmin=0,
            vmax=255 if img.dtype == np.uint8 else 1,
            interpolation="nearest",
        )
        ax.set_title(label, fontsize=10)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.95) if title else None)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    jpeg = path.suffix.lower() in (".jpg", ".jpeg")
    extra = {"pil_kwargs": {"quality": 90}} if jpeg else {"metadata": _png_metadata(provenance)}
    fig.savefig(path, dpi=100, **extra)
    plt.close(fig)
    return path


def comparison_strip(lr: np.ndarray, sr: np.ndarray, hr: np.ndarray, scale: int) -> np.ndarray:
    """uint8 HxWx3 strip LR (nearest) | bicubic | SR | HR for image logs."""
    from .imresize import imresize

    def rgb(a: np.ndarray) -> np.ndarray:
        return np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a

    panels = [nearest_upscale(lr, scale), imresize(lr, scale), sr, hr]
    return np.concatenate([rgb(p) for p in panels], axis=1)


def _png_metadata(provenance: dict | None) -> dict[str, str]:
    if provenance is None:
        return {}
    import json

    from .provenance import PNG_KEY

    return {PNG_KEY: json.dumps(provenance)}


def save_rgb(img: np.ndarray, path: str | Path, provenance: dict | None = None) -> Path:
    """Save a uint8 RGB array as PNG, creating folders; ``provenance`` goes into a text chunk."""
    from PIL import Image, PngImagePlugin

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    for k, v in _png_metadata(provenance).items():
        info.add_itxt(k, v)
    Image.fromarray(img).save(path, pnginfo=info)
    return path
