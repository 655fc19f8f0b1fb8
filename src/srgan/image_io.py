"""Reading and writing real-world images without losing anything.

:func:`read_image` gives an :class:`ImageData`: float32 colour in [0, 1]
(RGB, or a single gray plane), an optional alpha plane, the bit depth (8 or 16),
the ICC profile and EXIF (orientation already applied). :func:`write_image`
writes one back in the same kind: gray stays gray, 16-bit PNG stays 16-bit,
alpha and ICC are kept. Every failure is an :class:`ImageError` with a
one-line message meant for the user.
"""

from __future__ import annotations

import io
import os
import warnings
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import png
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

__all__ = [
    "ImageError",
    "check_format_size",
    "jpeg_quality",
    "ImageData",
    "read_image",
    "read_image_bytes",
    "write_image",
    "encode_image",
    "from_pil",
    "to_pil",
    "quantize",
    "DEFAULT_MAX_PIXELS",
]

DEFAULT_MAX_PIXELS = 64_000_000  # input pixels; Pillow's own bomb guard is separate
ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageError(ValueError):
    """An input or output image problem, with a message fit for the user."""


@dataclass
class ImageData:
    """Decoded image. ``color`` is HxWx3 (RGB) or HxWx1 (gray) float32 in [0, 1]."""

    color: np.ndarray
    alpha: np.ndarray | None = None  # HxW float32 in [0, 1]
    bit_depth: int = 8
    icc_profile: bytes | None = None
    exif: bytes | None = None
    text: dict[str, str] = field(default_factory=dict)
    provenance: dict | None = None  # written as PNG iTXt / XMP by encode_image
    jpeg_quality: int | None = None  # a JPEG input's IJG quality, estimated from its quantisation tables

    @property
    def is_gray(self) -> bool:
        return self.color.shape[2] == 1

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)"""
        return self.color.shape[1], self.color.shape[0]

    def with_pixels(self, color: np.ndarray, alpha: np.ndarray | None) -> "ImageData":
        return replace(self, color=color, alpha=alpha)


MAX_TEXT_CHUNK = 16 * 1024  # bytes of one text chunk (PNG tEXt/zTXt/iTXt) copied from input to output
MAX_TEXT_TOTAL = 64 * 1024  # bytes of all of them


def _capped_text(text: dict[str, str]) -> dict[str, str]:
    """The input's text chunks that are copied to the output: each at most MAX_TEXT_CHUNK bytes
    and MAX_TEXT_TOTAL in all, in file order; longer ones are dropped (with a warning), so that a
    small upload with a compressed 60 MB zTXt chunk cannot return a 60 MB file."""
    kept, total, dropped = {}, 0, []
    for k, v in text.items():
        size = len(k) + len(v.encode("utf-8", "replace"))
        if size > MAX_TEXT_CHUNK or total + size > MAX_TEXT_TOTAL:
            dropped.append(k)
            continue
        kept[k], total = v, total + size
    if dropped:
        warnings.warn(
            f"text metadata not copied to the output (over {MAX_TEXT_CHUNK // 1024} KB, "
            f"or {MAX_TEXT_TOTAL // 1024} KB in all): {', '.join(dropped[:5])}",
            stacklevel=3,
        )
    return kept


def _png_bit_depth(head: bytes) -> int | None:
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return head[24]
    return None


def _read_png16(data: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    width, height, rows, info = png.Reader(bytes=data).asDirect()
    planes = info["planes"]
    arr = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(height, width, planes)
    if info["bitdepth"] != 16:
        arr = (arr.astype(np.float64) * 65535 / (2 ** info["bitdepth"] - 1)).round().astype(np.uint16)
    color = arr[..., :3] if planes >= 3 else arr[..., :1]
    alpha = arr[..., -1] if planes in (2, 4) else None
    return color, alpha


def from_pil(im: Image.Image) -> ImageData:
    """Convert a Pillow image (any mode) to :class:`ImageData`; EXIF orientation is applied."""
    if getattr(im, "n_frames", 1) > 1:
        warnings.warn("animated image: only the first frame is used", stacklevel=2)
        im.seek(0)
    icc = im.info.get("icc_profile")
    im = ImageOps.exif_transpose(im)
    exif = im.getexif().tobytes() if len(im.getexif()) else None
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode == "PA":
        im = im.convert("RGBA")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGB")
        icc = None if mode == "CMYK" else icc  # a CMYK profile does not describe the RGB result
    elif mode == "1":
        im = im.convert("L")
    elif mode == "La":
        im = im.convert("LA")
    elif mode == "RGBa":
        im = im.convert("RGBA")
    elif mode == "RGBX":
        im = im.convert("RGB")
    mode, depth = im.mode, 8
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        color, alpha, depth = (np.clip(arr, 0, 65535) / 65535.0)[..., None], None, 16
    elif mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise ImageError("floating-point image contains NaN or infinity")
        hi = 1.0 if arr.max(initial=0) <= 1.0 else 255.0 if arr.max() <= 255 else 65535.0
        color, alpha, depth = np.clip(arr / hi, 0, 1)[..., None], None, 16
    elif mode in ("L", "LA", "RGB", "RGBA"):
        arr = np.asarray(im, dtype=np.float32) / 255.0
        if arr.ndim == 2:
            arr = arr[..., None]
        has_alpha = mode.endswith("A")
        color = arr[..., :-1] if has_alpha else arr
        alpha = arr[..., -1] if has_alpha else None
    else:
        raise ImageError(f"unsupported image mode {mode}")
    text = _capped_text({k: v for k, v in im.info.items() if isinstance(v, str) and k not in ("dpi",)})
    return ImageData(
        np.ascontiguousarray(color, dtype=np.float32),
        None if alpha is None else np.ascontiguousarray(alpha, np.float32),
        depth,
        icc,
        exif,
        text,
    )


def read_image(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> ImageData:
    """Decode ``path`` with checks; raises :class:`ImageError` on any problem."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, not an image") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return read_image_bytes(data, str(path), max_pixels)


def read_image_bytes(data: bytes, path: str = "image", max_pixels: int | None = DEFAULT_MAX_PIXELS) -> ImageData:
    """Decode an encoded image held in memory; ``path`` only names it in errors."""
    if not data:
        raise ImageError(f"{path}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            w, h = im.size
            if w < 1 or h < 1:
                raise ImageError(f"{path}: image has zero size ({w}x{h})")
            if max_pixels and w * h > max_pixels:
                raise ImageError(
                    f"{path}: {w}x{h} = {w * h / 1e6:.1f} MP is over the limit of {max_pixels / 1e6:.1f} MP (raise it "
                    "with --max-pixels)"
                )
            im.load()
            with warnings.catch_warnings():
                warnings.simplefilter("default")  # animation warning goes to the user
                img = from_pil(im)
            if im.format == "JPEG":
                img.jpeg_quality = jpeg_quality(im)
            if _png_bit_depth(data[:32]) == 16:
                color, alpha = _read_png16(data)
                img.color = color.astype(np.float32) / 65535.0
                img.alpha = None if alpha is None else alpha.astype(np.float32) / 65535.0
                img.bit_depth = 16
                img.color, img.alpha = _orient_like(im, img.color, img.alpha)
            return img
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{path}: refused as a possible decompression bomb ({exc})") from None
    except MemoryError:
        raise ImageError(f"{path}: too large to decode in memory") from None
    except Exception as exc:  # decoders raise many types on hostile input (found by fuzz/fuzz_decode.py)
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "truncated" in msg.lower() or isinstance(exc, EOFError):
            raise ImageError(f"{path}: truncated or incomplete image file") from None
        raise ImageError(f"{path}: corrupted image file ({type(exc).__name__}: {msg[:120]})") from None


# IJG's luminance quantisation table (JPEG standard, Annex K), the base that quality scales
_IJG_LUMA = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip


def jpeg_quality(im: Image.Image) -> int | None:
    """The IJG quality (1-100) whose scaled luminance table is nearest to a JPEG's own, or None when
    it has no tables. Encoders other than libjpeg's scale differently; the estimate is then rough."""
    tables = getattr(im, "quantization", None) or {}
    if 0 not in tables or len(tables[0]) != 64:
        return None
    own = np.asarray(sorted(tables[0]), np.float64)
    base = np.asarray(_IJG_LUMA, np.float64)

    def table(q: int) -> np.ndarray:
        scale = 5000 / q if q < 50 else 200 - 2 * q
        return np.sort(np.clip(np.floor((base * scale + 50) / 100), 1, 255))

    return int(min(range(1, 101), key=lambda q: float(np.abs(table(q) - own).sum())))


def _orient_like(im: Image.Image, color: np.ndarray, alpha: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Apply the EXIF orientation of ``im`` to raw arrays (for the 16-bit PNG path)."""
    o = im.getexif().get(0x0112, 1)
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 1)[::-1],
        8: lambda a: np.rot90(a, 1),
    }
    f = ops.get(o)
    if f is None:
        return color, alpha
    return np.ascontiguousarray(f(color)), None if alpha is None else np.ascontiguousarray(f(alpha))


def quantize(x: np.ndarray, depth: int) -> np.ndarray:
    """[0, 1] floats -> uint8/uint16, rounding half up. Works in row blocks, so a 64 MP
    output needs no full-size float temporaries."""
    hi = 65535 if depth == 16 else 255
    out = np.empty(x.shape, np.uint16 if depth == 16 else np.uint8)
    rows = max(1, (1 << 22) // max(1, x[:1].size))  # about 16 MB of float32 per block
    for i in range(0, x.shape[0], rows):
        y = np.asarray(x[i : i + rows], np.float32) * np.float32(hi)
        y += np.float32(0.5)
        np.floor(y, out=y)
        np.clip(y, 0, hi, out=y)
        out[i : i + rows] = y
    return out


def all_finite(x: np.ndarray) -> bool:
    """``np.isfinite(x).all()`` in row blocks (no full-size boolean temporary)."""
    rows = max(1, (1 << 24) // max(1, x[:1].size))
    return all(np.isfinite(x[i : i + rows]).all() for i in range(0, x.shape[0], rows))


def to_pil(img: ImageData) -> Image.Image:
    """8-bit Pillow image (L, LA, RGB or RGBA) of an :class:`ImageData`."""
    color = quantize(img.color, 8)
    planes = [color[..., i] for i in range(color.shape[2])]
    if img.alpha is not None:
        planes.append(quantize(img.alpha, 8))
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[len(planes)]
    arr = planes[0] if len(planes) == 1 else np.stack(planes, axis=2)
    return Image.fromarray(arr, mode)


def _encode_png16(img: ImageData) -> bytes:
    color = quantize(img.color, 16)
    planes = [color[..., i] for i in range(color.shape[2])]
    if img.alpha is not None:
        planes.append(quantize(img.alpha, 16))
    arr = np.stack(planes, axis=2)
    h, w, c = arr.shape
    writer = png.Writer(w, h, greyscale=c <= 2, alpha=c in (2, 4), bitdepth=16)
    buf = io.BytesIO()
    writer.write(buf, arr.reshape(h, w * c))
    chunks = list(png.Reader(bytes=buf.getvalue()).chunks())
    extra = []
    if img.icc_profile:
        extra.append((b"iCCP", b"icc\x00\x00" + zlib.compress(img.icc_profile)))
    for k, v in img.text.items():
        extra.append((b"iTXt", k.encode("latin-1", "replace")[:79] + b"\x00\x00\x00\x00\x00" + v.encode("utf-8")))
    out = io.BytesIO()
    png.write_chunks(out, [chunks[0], *extra, *chunks[1:]])
    return out.getvalue()


FORMAT_MAX_SIDE = {"webp": 16383, "jpeg": 65500, "jpg": 65500}  # libwebp's and libjpeg's limits per side


def check_format_size(fmt: str, width: int, height: int) -> None:
    """Raise :class:`ImageError` when ``fmt`` cannot hold a ``width`` x ``height`` image."""
    limit = FORMAT_MAX_SIDE.get(fmt.lower().lstrip("."))
    if limit is not None and max(width, height) > limit:
        raise ImageError(
            f"a {width}x{height} output is too large for {fmt.upper()} (at most {limit} px per side); use PNG"
        )


def encode_image(img: ImageData, fmt: str, quality: int = 95) -> bytes:
    """Encode ``img`` as ``png``, ``jpeg``, ``webp``, ``tiff`` or ``bmp``, keeping depth, alpha,
    ICC, EXIF and text where the format allows."""
    fmt = {"jpg": "jpeg", "tif": "tiff"}.get(fmt.lower().lstrip("."), fmt.lower().lstrip("."))
    buf = io.BytesIO()
    text = dict(img.text)
    if img.provenance is not None:
        import json

        from .provenance import PNG_KEY

        text[PNG_KEY] = json.dumps(img.provenance)
    if fmt == "png" and img.bit_depth == 16:
        return _encode_png16(replace(img, text=text))
    im = to_pil(img)
    kwargs: dict = {}
    if img.icc_profile:
        kwargs["icc_profile"] = img.icc_profile
    exif = Image.Exif()
    if img.exif:
        exif.load(img.exif)
    if img.provenance is not None:
        from .provenance import to_xmp

        exif[0x0131] = img.provenance.get("software", "srgan")  # EXIF Software
        if fmt in ("jpeg", "webp"):
            kwargs["xmp"] = to_xmp(img.provenance)
    if len(exif):
        kwargs["exif"] = exif.tobytes()
    if fmt == "jpeg":
        if im.mode in ("LA", "RGBA"):
            raise ImageError("JPEG cannot store transparency; write .png or .webp instead")
        kwargs.update(quality=quality, subsampling=0 if quality >= 90 else 2)
    elif fmt == "webp":
        kwargs.update(quality=quality, lossless=quality >= 100)
    elif fmt == "png":
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        for k, v in text.items():
            info.add_itxt(k, v)
        kwargs["pnginfo"] = info
    elif fmt == "bmp":
        kwargs.pop("icc_profile", None)
        kwargs.pop("exif", None)
    elif fmt != "tiff":
        raise ImageError(f"unsupported output format '{fmt}' (use png, jpg, webp, tif or bmp)")
    im.save(buf, fmt.upper(), **kwargs)
    return buf.getvalue()


def _remove_orphans(path: Path) -> None:
    """Delete ``.<name>.tmp<pid>`` files that a killed srgan left beside ``path`` (their process is gone)."""
    for tmp in path.parent.glob(f".{path.name}.tmp*"):
        pid = tmp.name.rsplit(".tmp", 1)[1]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # exists, another user's


def write_image(path: str | Path, img: ImageData, quality: int = 95, overwrite: bool = False) -> Path:
    """Write ``img`` to ``path`` (format from the extension) atomically; never overwrites unless asked."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ImageError(f"{path}: already exists (use --overwrite to replace it)")
    try:
        data = encode_image(img, path.suffix, quality)
    except ImageError as exc:
        raise ImageError(f"{path}: {exc}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
