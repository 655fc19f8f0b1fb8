"""Training and validation data.

Training samples are a pure function of ``(seed, sample_index)``: the image is
picked from a per-epoch permutation and the crop/flip/rotation come from a
counter-based RNG. Resuming at step ``s`` therefore only needs ``s``, and DDP
ranks just read disjoint index ranges.

Decoded images are cached in memory once (uint8), so the loader never decodes
per sample; LR is made on the fly with MATLAB-compatible bicubic.
"""

from __future__ import annotations

import fnmatch
import io
import logging
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset, Sampler

from .imresize import imresize

__all__ = [
    "IMAGE_EXTENSIONS",
    "list_images",
    "load_rgb",
    "ImageCache",
    "ImageFiles",
    "RandomCropDataset",
    "StepBatchSampler",
    "PairedImages",
    "to_tensor",
]

log = logging.getLogger(__name__)
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def list_images(root: str | Path, exclude: Sequence[str] = (), only: Sequence[str] = ()) -> list[Path]:
    """All image files under ``root`` (recursive, sorted); ``root`` may be a file. ``exclude``:
    glob patterns (``fnmatch``, ``*`` crosses ``/``) matched against each file's path relative to
    ``root``, for a held-out part of a folder (``SunHays80_HR/img_0[4-7]?_*``); ``only``: keep just the
    files whose names match one of these patterns (that held-out part)."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"no such file or folder: {root}")
    found = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if exclude:
        found = [p for p in found if not any(fnmatch.fnmatch(p.relative_to(root).as_posix(), e) for e in exclude)]
    if only:
        found = [p for p in found if any(fnmatch.fnmatch(p.name, g) for g in only)]
    return found


def load_rgb(path: str | Path) -> np.ndarray:
    """Decode an image as HxWx3 uint8 RGB, applying EXIF orientation."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        return np.asarray(im.convert("RGB"))


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """HxWxC uint8 -> CxHxW float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div_(255.0)


class ImageCache:
    """Every training image decoded once into memory as uint8 RGB."""

    def __init__(
        self, roots: str | Path | Sequence[str | Path], min_size: int = 0, exclude: Sequence[str] = ()
    ) -> None:
        roots = [roots] if isinstance(roots, (str, Path)) else list(roots)
        paths = [p for r in roots for p in list_images(r, exclude)]
        if not paths:
            raise FileNotFoundError(f"no images found in {', '.join(map(str, roots))}")
        self.images: list[np.ndarray] = []
        self.paths: list[Path] = []
        for p in paths:
            img = load_rgb(p)
            if min(img.shape[:2]) < min_size:
                log.warning("skipping %s: smaller than the %d px crop", p, min_size)
                continue
            self.images.append(img)
            self.paths.append(p)
        if not self.images:
            raise ValueError(f"no image is at least {min_size} px on its short side")

    def __len__(self) -> int:
        return len(self.images)

    def get(self, i: int) -> np.ndarray:
        return self.images[i]

    @property
    def megapixels(self) -> float:
        return sum(i.shape[0] * i.shape[1] for i in self.images) / 1e6


class ImageFiles:
    """The same interface as :class:`ImageCache`, decoding on access: for sets too big
    for memory (use sub-images from ``srgan data prepare`` and loader workers)."""

    def __init__(
        self, roots: str | Path | Sequence[str | Path], min_size: int = 0, exclude: Sequence[str] = ()
    ) -> None:
        roots = [roots] if isinstance(roots, (str, Path)) else list(roots)
        paths = [p for r in roots for p in list_images(r, exclude)]
        if not paths:
            raise FileNotFoundError(f"no images found in {', '.join(map(str, roots))}")
        self.paths, self._pixels = [], 0
        for p in paths:
            with Image.open(p) as im:
                w, h = im.size
            if min(w, h) >= min_size:
                self.paths.append(p)
                self._pixels += w * h
        if not self.paths:
            raise ValueError(f"no image is at least {min_size} px on its short side")

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, i: int) -> np.ndarray:
        return load_rgb(self.paths[i])

    @property
    def megapixels(self) -> float:
        return self._pixels / 1e6


class RandomCropDataset(Dataset):
    """Random HR crops with flips/90-degree rotations and their bicubic LR.

    Index ``k`` is a global sample counter: epoch ``k // n`` uses its own
    permutation of the ``n`` images, and the crop is drawn from an RNG seeded
    by ``(seed, k)``. Returns ``(lr, hr)`` float tensors in [0, 1].
    ``crop_schedule``, ``(end_index, crop)`` pairs in sample indices, makes samples
    before ``end_index`` ``crop`` px (progressive crops); the rest are ``crop``.
    """

    def __init__(
        self,
        cache: "ImageCache | ImageFiles",
        scale: int = 4,
        crop: int = 96,
        augment: bool = True,
        seed: int = 0,
        degradation: Any = None,
        crop_schedule: Sequence[tuple[int, int]] = (),
    ) -> None:
        for c in [crop] + [c for _, c in crop_schedule]:
            if c % scale:
                raise ValueError(f"crop {c} must be a multiple of scale {scale}")
        self.cache, self.scale, self.crop, self.augment, self.seed = cache, scale, crop, augment, seed
        self.crop_schedule = sorted((int(e), int(c)) for e, c in crop_schedule)
        self.degradation = degradation  # an srgan.degradations object; None: MATLAB bicubic
        self._perm_epoch, self._perm = -1, np.arange(0)

    def __len__(self) -> int:  # one epoch; indices beyond it are valid too
        return len(self.cache)

    def _image_index(self, k: int) -> int:
        n = len(self.cache)
        epoch = k // n
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng((self.seed, 0x5EED, epoch)).permutation(n)
            self._perm_epoch = epoch
        return int(self._perm[k % n])

    def crop_at(self, k: int) -> int:
        """The HR crop size of sample ``k``."""
        return next((c for end, c in self.crop_schedule if k < end), self.crop)

    def sample(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The uint8 (lr, hr) crops for global sample index ``k``."""
        img = self.cache.get(self._image_index(k))
        rng = np.random.default_rng((self.seed, k))
        h, w = img.shape[:2]
        crop = self.crop_at(k)
        y = int(rng.integers(0, h - crop + 1))
        x = int(rng.integers(0, w - crop + 1))
        hr = img[y : y + crop, x : x + crop]
        if self.augment:
            flip, rot = rng.integers(0, 2), int(rng.integers(0, 4))
            if flip:
                hr = hr[:, ::-1]
            hr = np.rot90(hr, rot)
        hr = np.ascontiguousarray(hr)
        if self.degradation is None:
            return imresize(hr, 1 / self.scale), hr
        return self.degradation.lr(hr, self.scale, np.random.default_rng((self.seed, k, 0xDE6))), hr

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        lr, hr = self.sample(int(k))
        return to_tensor(lr), to_tensor(hr)


class StepBatchSampler(Sampler[list[int]]):
    """Yields the sample indices of steps ``start_step, start_step+1, ...``.

    Step ``s`` on rank ``r`` of ``world`` reads indices
    ``[(s*world + r)*batch, (s*world + r + 1)*batch)``: the global batch of
    step ``s`` is the same whatever the world size.
    """

    def __init__(self, batch_size: int, start_step: int, end_step: int, rank: int = 0, world_size: int = 1) -> None:
        self.batch_size, self.start, self.end, self.rank, self.world = (
            batch_size,
            start_step,
            end_step,
            rank,
            world_size,
        )

    def __len__(self) -> int:
        return max(0, self.end - self.start)

    def first_index(self, step: int) -> int:
        """The first sample index of ``step``'s global batch (rank 0's first)."""
        return step * self.world * self.batch_size

    def __iter__(self) -> Iterator[list[int]]:
        for s in range(self.start, self.end):
            first = self.first_index(s) + self.rank * self.batch_size
            yield list(range(first, first + self.batch_size))


class PairedImages:
    """A benchmark folder: ``HR/`` and ``LR/`` with matching names, or HR only
    (LR is then made with MATLAB-compatible bicubic after cropping HR to a
    multiple of ``scale``). ``root`` may also be a plain folder of HR images.
    """

    def __init__(
        self,
        root: str | Path,
        scale: int,
        degradation: str | None = None,
        seed: int = 0,
        only: Sequence[str] = (),
    ) -> None:
        """``degradation``: a preset of :mod:`srgan.degradations`; the LR is then made from the HR
        (RGB, cropped to a multiple of ``scale``) exactly as ``srgan degrade --seed`` writes it.
        ``only``: glob patterns of HR file names to keep (a held-out part of a training folder)."""
        root = Path(root)
        self.root, self.scale, self.seed = root, scale, seed
        named = root.parent if root.name.upper() == "HR" else root  # Set5/x4/HR is Set5 too
        is_scale = named.name.lower().startswith("x") and named.name[1:].isdigit()
        self.name = named.parent.name if is_scale else named.name
        hr_dir = root / "HR" if (root / "HR").is_dir() else root
        lr_dir = root / "LR" if (root / "LR").is_dir() else None
        self.hr_paths = list_images(hr_dir, only=only)
        if not self.hr_paths:
            raise FileNotFoundError(f"no HR images in {hr_dir}" + (f" matching {', '.join(only)}" if only else ""))
        self.lr_dir = lr_dir
        self.degradation = None
        if degradation is not None:
            from .degradations import build_degradation

            self.degradation, self.lr_dir = build_degradation(degradation), None
            self.name = f"{self.name} {degradation}"

    def __len__(self) -> int:
        return len(self.hr_paths)

    def _lr_path(self, hr_path: Path) -> Path:
        """The LR file of an HR file: the same name, or the same stem in another format (a JPEG LR)."""
        same = self.lr_dir / hr_path.name
        if same.is_file():
            return same
        found = [p for p in self.lr_dir.glob(hr_path.stem + ".*") if p.suffix.lower() in IMAGE_EXTENSIONS]
        if len(found) != 1:
            raise FileNotFoundError(f"{self.lr_dir}: no single LR image for {hr_path.name}")
        return found[0]

    def __iter__(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        for i, hr_path in enumerate(self.hr_paths):
            if self.degradation is not None:
                hr = load_rgb(hr_path)
                hr = np.ascontiguousarray(
                    hr[: hr.shape[0] - hr.shape[0] % self.scale, : hr.shape[1] - hr.shape[1] % self.scale]
                )
                data, _ = self.degradation.file(hr, self.scale, np.random.default_rng((self.seed, i)))
                with Image.open(io.BytesIO(data)) as im:
                    yield hr_path.stem, np.asarray(im.convert("RGB")), hr
                continue
            hr = _load_keep_gray(hr_path)
            if self.lr_dir is not None:
                lr = _load_keep_gray(self._lr_path(hr_path))
                if (lr.shape[0] * self.scale, lr.shape[1] * self.scale) != hr.shape[:2]:
                    raise ValueError(f"{hr_path.name}: LR {lr.shape[:2]} x{self.scale} != HR {hr.shape[:2]}")
            else:
                h, w = (d - d % self.scale for d in hr.shape[:2])
                hr = hr[:h, :w]
                lr = imresize(hr, 1 / self.scale)
            yield hr_path.stem, lr, hr


def _load_keep_gray(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        return np.asarray(im.convert("L" if im.mode in ("L", "I;16", "I", "1") else "RGB"))
