"""MATLAB-compatible bicubic ``imresize`` (antialiased) in numpy.

Reproduces ``imresize(img, scale, 'bicubic')``: Keys' cubic kernel (a = -0.5),
kernel widened by 1/scale when shrinking (antialiasing), symmetric boundary
handling, one 1-D pass per axis (rows first when scales are equal) and, for
uint8 input, rounding to uint8 after each pass, as MATLAB does.

Each pass is a matrix product with a cached dense weight matrix for small axes (a training
crop costs two small matmuls), and a sum over the kernel's taps of gathered rows for large ones,
so memory stays O(length * taps): a 2 x 20000 image needs no 20000 x 80000 matrix. The weight
cache is bounded in bytes.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict

import numpy as np

__all__ = ["imresize", "resize_weights", "contributions"]


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )


def contributions(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB's ``contributions`` for one axis: (out_len, taps) 0-based input indices, mirrored
    into range (symmetric padding), and their weights. O(out_len * taps) memory."""
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
    return aux[np.mod(idx.astype(np.int64) - 1, 2 * in_len)], w


class _ByteCache:
    """A least-recently-used cache bounded by the bytes of its arrays, not by entries: a thin
    20000 px image must not pin gigabytes of weights (thread-safe; the server runs workers)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes, self.size = max_bytes, 0
        self._items: OrderedDict[tuple, tuple[np.ndarray, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, make) -> tuple[np.ndarray, ...]:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        nbytes = sum(a.nbytes for a in value)
        if nbytes <= self.max_bytes // 4:  # large entries are recomputed, never kept
            with self._lock:
                if key not in self._items:
                    self._items[key] = value
                    self.size += nbytes
                while self.size > self.max_bytes:
                    _, old = self._items.popitem(last=False)
                    self.size -= sum(a.nbytes for a in old)
        return value


_CACHE = _ByteCache(64 * 1024 * 1024)
DENSE_LIMIT = 1 << 18  # out_len * in_len up to this (2 MB of float64): one matmul per pass; beyond, banded taps


def resize_weights(in_len: int, out_len: int, scale: float) -> np.ndarray:
    """Dense (out_len, in_len) matrix of MATLAB's ``contributions`` for one axis (for small axes:
    training crops, the consistency projection). Its memory is out_len * in_len * 8 bytes."""

    def make() -> tuple[np.ndarray]:
        cols, w = contributions(in_len, out_len, scale)
        mat = np.zeros((out_len, in_len), dtype=np.float64)
        np.add.at(mat, (np.repeat(np.arange(out_len), cols.shape[1]), cols.ravel()), w.ravel())
        return (mat,)

    return _CACHE.get(("dense", in_len, out_len, scale), make)[0]


def _resize_axis(x: np.ndarray, axis: int, out_len: int, scale: float) -> np.ndarray:
    """One 1-D pass: a matmul with the dense weights for small axes, else a sum over the taps of
    gathered rows (memory: the output plus one gathered slice)."""
    in_len = x.shape[axis]
    x = np.moveaxis(x, axis, 0)
    if in_len * out_len <= DENSE_LIMIT:
        out = np.tensordot(resize_weights(in_len, out_len, scale).astype(x.dtype), x, axes=(1, 0))
    else:
        cols, w = _CACHE.get(("taps", in_len, out_len, scale), lambda: contributions(in_len, out_len, scale))
        w = w.astype(x.dtype).reshape(out_len, -1, *([1] * (x.ndim - 1)))
        out = np.zeros((out_len, *x.shape[1:]), dtype=x.dtype)
        for k in range(cols.shape[1]):
            out += w[:, k] * x[cols[:, k]]
    return np.moveaxis(out, 0, axis)


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
        out = _resize_axis(out, axis, output_shape[axis], scales[axis])
        if quant is not None:
            out = np.clip(np.floor(out + 0.5), 0, quant)
    return out.astype(dtype) if quant is not None else out
