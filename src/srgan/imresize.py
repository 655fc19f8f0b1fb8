"""MATLAB-compatible bicubic ``imresize`` (antialiased) in numpy.

Reproduces ``imresize(img, scale, 'bicubic')``: Keys' cubic kernel (a = -0.5),
kernel widened by 1/scale when shrinking (antialiasing), symmetric boundary
handling, one 1-D pass per axis (rows first when scales are equal) and, for
uint8 input, rounding to uint8 after each pass, as MATLAB does.

Each pass is a matrix product with a cached sparse-in-spirit weight matrix, so
resizing a training crop costs two small matmuls.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

__all__ = ["imresize", "resize_weights"]


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )


@lru_cache(maxsize=256)
def resize_weights(in_len: int, out_len: int, scale: float) -> np.ndarray:
    """Dense (out_len, in_len) matrix of MATLAB's ``contributions`` for one axis."""
    kernel_width = 4.0
    antialias = scale < 1
    if antialias:
        kernel_width /= scale
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)  # output pixel centre in input coordinates (1-based)
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]  # 1-based input indices
    dist = u[:, None] - idx
    w = scale * _cubic(dist * scale) if antialias else _cubic(dist)
    w /= w.sum(axis=1, keepdims=True)
    # symmetric padding: mirror out-of-range indices back into [1, in_len]
    aux = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    cols = aux[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    mat = np.zeros((out_len, in_len), dtype=np.float64)
    np.add.at(mat, (np.repeat(np.arange(out_len), taps), cols.ravel()), w.ravel())
    return mat


def _out_size(size: int, scale: float) -> int:
    return int(math.ceil(size * scale))


def imresize(img: np.ndarray, scale: float | None = None, output_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Resize an HxW or HxWxC image like MATLAB's ``imresize(..., 'bicubic')``.

    ``uint8`` input gives ``uint8`` output, rounded after each 1-D pass;
    ``uint16`` likewise; float input stays float (no clipping).
    Give either ``scale`` (e.g. 1/4) or ``output_shape`` (H, W).
    """
    if (scale is None) == (output_shape is None):
        raise ValueError("give exactly one of scale or output_shape")
    if img.ndim not in (2, 3):
        raise ValueError(f"expected an HxW or HxWxC array, got shape {img.shape}")
    h, w = img.shape[:2]
    if output_shape is None:
        scales = (float(scale), float(scale))
        output_shape = (_out_size(h, scales[0]), _out_size(w, scales[1]))
    else:
        scales = (output_shape[0] / h, output_shape[1] / w)
    dtype = img.dtype
    quant = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else None
    out = img.astype(np.float64 if quant is None else np.float32)
    # MATLAB resizes along the dimension with the smaller scale factor first (rows on ties)
    order = (0, 1) if scales[0] <= scales[1] else (1, 0)
    for axis in order:
        if out.shape[axis] == output_shape[axis] and scales[axis] == 1.0:
            continue
        mat = resize_weights(out.shape[axis], output_shape[axis], scales[axis]).astype(out.dtype)
        out = np.moveaxis(np.tensordot(mat, np.moveaxis(out, axis, 0), axes=(1, 0)), 0, axis)
        if quant is not None:
            out = np.clip(np.floor(out + 0.5), 0, quant)
    return out.astype(dtype) if quant is not None else out
