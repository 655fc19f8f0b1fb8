"""Running a generator on whole images: exact tiling, devices, dtype.

A tile is exact when it is grown by the network's receptive radius (from the architecture
registry) and the grown part is thrown away: the tiled result then equals the untiled one up to
float rounding. Networks that split into an LR trunk and an upsampling tail (``features``,
``reconstruct`` and ``tile_radii``, as SRResNet does) are tiled at two levels: the trunk, where
activations are small, on large tiles, and the tail, which sees only a few LR pixels, on small
sub-tiles. Architectures with an unbounded receptive field run untiled.
"""

from __future__ import annotations

import threading
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from .models.registry import receptive_radius

__all__ = ["DEFAULT_TILE", "Cancelled", "resolve_device", "upscale_tensor", "upscale_array"]

DEFAULT_TILE = 512  # LR pixels per tile side: bounds memory, leaves the result unchanged


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; an unavailable explicit choice is an error."""
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was requested but CUDA is not available")
    if device == "mps" and not has_mps:
        raise RuntimeError("--device mps was requested but MPS is not available")
    if device not in ("cpu", "mps") and not device.startswith("cuda"):
        raise RuntimeError(f"unknown device '{device}' (use auto, cpu, cuda or mps)")
    return torch.device(device)


def _spans(start: int, stop: int, size: int) -> Iterator[tuple[int, int]]:
    for a in range(start, stop, size):
        yield a, min(a + size, stop)


class Cancelled(RuntimeError):
    """The caller's cancel event was set (a request timed out, its client left): work stopped
    between tiles."""


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled")


def _bands(h: int, w: int, workers: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """``workers`` bands (rows, cols) across the longer side of an h x w image."""
    if workers <= 1:
        return [((0, h), (0, w))]
    along_rows = h >= w
    length = h if along_rows else w
    cuts = [round(i * length / workers) for i in range(workers + 1)]
    return [((a, b), (0, w)) if along_rows else ((0, h), (a, b)) for a, b in zip(cuts, cuts[1:])]


def _ticker(progress: Callable[[int, int], None] | None, total: int) -> Callable[[], None] | None:
    """A thread-safe tile counter that reports ``(done, total)`` to ``progress``."""
    if progress is None:
        return None
    lock, done = threading.Lock(), [0]

    def tick() -> None:
        with lock:
            done[0] += 1
            progress(done[0], total)

    return tick


def _is_split(model: nn.Module) -> bool:
    return all(hasattr(model, a) for a in ("features", "reconstruct", "tile_radii"))


@torch.inference_mode()
def _upscale_region_flat(
    model: nn.Module,
    x: torch.Tensor,
    out: torch.Tensor,
    scale: int,
    rows: tuple[int, int],
    cols: tuple[int, int],
    tile: int,
    radius: int,
    cancel: threading.Event | None = None,
    tick: Callable[[], None] | None = None,
) -> None:
    """Write the SR of LR region ``rows`` x ``cols`` into ``out``, one tile grown by ``radius`` at a time."""
    h, w = x.shape[2:]
    for y0, y1 in _spans(*rows, tile):
        for x0, x1 in _spans(*cols, tile):
            _check(cancel)
            iy0, iy1, ix0, ix1 = max(y0 - radius, 0), min(y1 + radius, h), max(x0 - radius, 0), min(x1 + radius, w)
            sr = model(x[:, :, iy0:iy1, ix0:ix1])
            if tick:
                tick()
            oy, ox = (y0 - iy0) * scale, (x0 - ix0) * scale
            out[:, :, y0 * scale : y1 * scale, x0 * scale : x1 * scale] = sr[
                :, :, oy : oy + (y1 - y0) * scale, ox : ox + (x1 - x0) * scale
            ].clamp(0, 1)


@torch.inference_mode()
def _upscale_region(
    model: nn.Module,
    x: torch.Tensor,
    out: torch.Tensor,
    scale: int,
    rows: tuple[int, int],
    cols: tuple[int, int],
    tile: int,
    tail_tile: int,
    batch: int = 1,
    cancel: threading.Event | None = None,
    tick: Callable[[], None] | None = None,
) -> None:
    """Write the SR of LR region ``rows`` x ``cols`` into ``out``, reading context from all of ``x``.

    Tail sub-tiles of equal shape are run ``batch`` at a time (fewer, larger kernels on a GPU).
    """
    h, w = x.shape[2:]
    rb, rt = model.tile_radii()
    for y0, y1 in _spans(*rows, tile):
        for x0, x1 in _spans(*cols, tile):
            # features are needed on the tile grown by the tail's radius ...
            fy0, fy1, fx0, fx1 = max(y0 - rt, 0), min(y1 + rt, h), max(x0 - rt, 0), min(x1 + rt, w)
            # ... and are exact there when the trunk sees its own radius beyond that
            iy0, iy1, ix0, ix1 = max(fy0 - rb, 0), min(fy1 + rb, h), max(fx0 - rb, 0), min(fx1 + rb, w)
            _check(cancel)
            feats = model.features(x[:, :, iy0:iy1, ix0:ix1])[:, :, fy0 - iy0 : fy1 - iy0, fx0 - ix0 : fx1 - ix0]
            jobs: dict[tuple[int, int], list[tuple[int, int, int, int, int, int]]] = {}
            for sy0, sy1 in _spans(y0, y1, tail_tile):
                for sx0, sx1 in _spans(x0, x1, tail_tile):
                    ty0, ty1, tx0, tx1 = max(sy0 - rt, fy0), min(sy1 + rt, fy1), max(sx0 - rt, fx0), min(sx1 + rt, fx1)
                    jobs.setdefault((ty1 - ty0, tx1 - tx0), []).append((sy0, sy1, sx0, sx1, ty0, tx0))
            for (th, tw), group in jobs.items():
                for i in range(0, len(group), batch):
                    _check(cancel)
                    chunk = group[i : i + batch]
                    crops = [
                        feats[:, :, ty0 - fy0 : ty0 - fy0 + th, tx0 - fx0 : tx0 - fx0 + tw]
                        for _, _, _, _, ty0, tx0 in chunk
                    ]
                    sr = model.reconstruct(crops[0] if len(crops) == 1 else torch.cat(crops, 0))
                    n = x.shape[0]
                    for j, (sy0, sy1, sx0, sx1, ty0, tx0) in enumerate(chunk):
                        oy, ox = (sy0 - ty0) * scale, (sx0 - tx0) * scale
                        part = sr[j * n : (j + 1) * n, :, oy : oy + (sy1 - sy0) * scale, ox : ox + (sx1 - sx0) * scale]
                        out[:, :, sy0 * scale : sy1 * scale, sx0 * scale : sx1 * scale] = part.clamp(0, 1)
            if tick:
                tick()


@torch.inference_mode()
def upscale_tensor(
    model: nn.Module,
    x: torch.Tensor,
    scale: int,
    tile: int | None = DEFAULT_TILE,
    tail_tile: int = 128,
    workers: int = 1,
    batch: int | None = None,
    cancel: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Upscale a (N, 3, H, W) tensor in [0, 1]; returns it clamped to [0, 1].

    ``progress(done, total)`` is called after each (trunk) tile, from the worker threads too.

    ``cancel``: an event checked before every tile; once set, :class:`Cancelled` is raised.

    ``tile``: trunk tile side in LR pixels (None/0: whole image). ``tail_tile``:
    sub-tile side for the upsampling tail. ``workers`` > 1 splits the image into
    that many bands, each run by its own thread with one intra-op thread (on few
    cores this scales better than intra-op threading). Modules whose receptive radius is
    unknown or unbounded run untiled. ``batch``: tail sub-tiles per call (default 8 on a
    GPU, 1 on the CPU).
    """
    n, c, h, w = x.shape
    split = _is_split(model)
    radius = None if split else receptive_radius(model)
    if not split and radius is None:
        _check(cancel)
        return model(x).clamp_(0, 1)
    tile = tile or max(h, w)
    tail_tile = min(tail_tile or tile, tile)
    out = torch.empty(
        (n, c, h * scale, w * scale),
        dtype=x.dtype,
        device=x.device,
        memory_format=torch.channels_last
        if x.is_contiguous(memory_format=torch.channels_last)
        else torch.contiguous_format,
    )
    workers = max(1, min(workers, h if h >= w else w))
    batch = batch or (1 if x.device.type == "cpu" else 8)

    def run(rows: tuple[int, int], cols: tuple[int, int]) -> None:
        if split:
            _upscale_region(model, x, out, scale, rows, cols, tile, tail_tile, batch, cancel, tick)
        else:
            _upscale_region_flat(model, x, out, scale, rows, cols, tile, radius, cancel, tick)

    regions = _bands(h, w, workers if x.device.type == "cpu" else 1)
    tick = _ticker(progress, sum(len(list(_spans(*r, tile))) * len(list(_spans(*c, tile))) for r, c in regions))

    if len(regions) == 1:
        run(*regions[0])
        return out
    from concurrent.futures import ThreadPoolExecutor

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda r: run(*r), regions))
    finally:
        torch.set_num_threads(threads)
    return out


def upscale_array(
    model: nn.Module,
    img: np.ndarray,
    scale: int,
    tile: int | None = DEFAULT_TILE,
    device: torch.device | str = "cpu",
    channels_last: bool = True,
    dtype: torch.dtype = torch.float32,
    workers: int = 1,
    cancel: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Upscale an HxWx3 (or HxW) array (uint8, or float in [0, 1]); returns float32 HxWx3 in [0, 1]."""
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    arr = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)
    x = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None]
    if torch.device(device).type == "cuda":
        x = x.pin_memory().to(device=device, non_blocking=True)  # async host-to-device copy
    x = x.to(device=device, dtype=dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = upscale_tensor(model, x, scale, tile, workers=workers, cancel=cancel, progress=progress)
    return y[0].permute(1, 2, 0).float().cpu().numpy()
