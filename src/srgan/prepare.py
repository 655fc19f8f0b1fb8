"""``srgan data prepare``: overlapping sub-images for fast loading (as BasicSR does for DIV2K).

Decoding a 2K PNG per sample is slow; a 480x480 crop is fast to decode, so a
loader over sub-images with a few workers keeps a GPU fed without holding the
whole set in memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from .data import list_images, load_rgb

__all__ = ["crop_positions", "extract_subimages"]


def crop_positions(length: int, crop: int, step: int, min_tail: int) -> list[int]:
    """Start offsets along one axis; a last crop flush with the edge is added when the
    remainder is at least ``min_tail`` pixels."""
    if length <= crop:
        return [0]
    pos = list(range(0, length - crop + 1, step))
    if length - (pos[-1] + crop) >= min_tail:
        pos.append(length - crop)
    return pos


def extract_subimages(
    src: str | Path,
    dst: str | Path,
    crop: int = 480,
    step: int = 240,
    min_tail: int = 0,
    compress_level: int = 3,
    progress: bool = True,
) -> int:
    """Write ``crop``-sized tiles every ``step`` px of each image in ``src`` to ``dst``; returns the count."""
    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in tqdm(list_images(src), desc="sub-images", disable=not progress):
        img = load_rgb(path)
        h, w = img.shape[:2]
        for i, y in enumerate(crop_positions(h, crop, step, min_tail)):
            for j, x in enumerate(crop_positions(w, crop, step, min_tail)):
                tile = np.ascontiguousarray(img[y : y + crop, x : x + crop])
                Image.fromarray(tile).save(dst / f"{path.stem}_s{i:03d}_{j:03d}.png", compress_level=compress_level)
                count += 1
    return count
