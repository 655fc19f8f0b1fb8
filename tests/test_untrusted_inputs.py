"""A corpus of awkward and hostile image files, generated here, through decode -> upscale -> encode."""

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from conftest import natural_image
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from srgan.api import from_pretrained
from srgan.cli import main
from srgan.image_io import ImageError, encode_image, read_image, read_image_bytes


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import torch

    from srgan.hub import save_generator
    from srgan.models import Generator

    torch.manual_seed(0)
    path = save_generator(Generator(4, 1, 8), tmp_path_factory.mktemp("m") / "tiny.safetensors")
    return from_pretrained(str(path), device="cpu")


def _bytes(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _png_with_ihdr(width: int, height: int) -> bytes:
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


RGB = natural_image(12, 10)


def _mode_cases():
    p = Image.fromarray(RGB).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    p.info["transparency"] = 0
    pal = np.asarray(p.convert("RGBA"))
    return {
        "1": (Image.fromarray(RGB).convert("1"), "PNG", lambda d: d.is_gray),
        "L": (Image.fromarray(RGB).convert("L"), "PNG", lambda d: d.is_gray),
        "LA": (Image.fromarray(RGB).convert("LA"), "PNG", lambda d: d.is_gray and d.alpha is not None),
        "P+transparency": (
            p,
            "PNG",
            lambda d: d.alpha is not None and np.allclose(d.color * 255, pal[..., :3], atol=0.5),
        ),
        "RGB": (Image.fromarray(RGB), "PNG", lambda d: np.allclose(d.color * 255, RGB, atol=0.5)),
        "RGBA": (
            Image.fromarray(np.dstack([RGB, np.full(RGB.shape[:2], 9, np.uint8)])),
            "PNG",
            lambda d: np.allclose(d.alpha * 255, 9),
        ),
        "CMYK": (
            Image.new("CMYK", (10, 12), (0, 255, 255, 0)),
            "TIFF",
            lambda d: np.allclose(d.color[0, 0] * 255, [255, 0, 0], atol=1),
        ),
        "YCbCr": (
            Image.fromarray(RGB).convert("YCbCr"),
            "JPEG",
            lambda d: d.color.shape[2] == 3 and abs(float(d.color.mean()) * 255 - RGB.mean()) < 4,
        ),
        "I;16": (
            Image.fromarray((RGB[..., 0].astype(np.uint16) * 257)),
            "PNG",
            lambda d: d.is_gray and d.bit_depth == 16,
        ),
        "I": (
            Image.fromarray(RGB[..., 0].astype(np.int32) * 100, "I"),
            "TIFF",
            lambda d: d.is_gray and d.bit_depth == 16,
        ),
        "F": (
            Image.fromarray(RGB[..., 0].astype(np.float32) / 255.0, "F"),
            "TIFF",
            lambda d: d.is_gray and np.allclose(d.color[..., 0], RGB[..., 0] / 255.0, atol=1e-6),
        ),
    }


@pytest.mark.parametrize("mode", list(_mode_cases()))
def test_every_pillow_mode_decodes_with_correct_colours_and_upscales(tiny, mode):
    im, fmt, check = _mode_cases()[mode]
    data = read_image_bytes(_bytes(im, fmt))
    assert data.color.shape[:2] == (12, 10) and data.color.dtype == np.float32
    assert 0 <= data.color.min() and data.color.max() <= 1
    assert check(data), mode
    out = tiny.upscale_data(data)
    assert out.color.shape[:2] == (48, 40) and out.is_gray == data.is_gray
    back = read_image_bytes(encode_image(out, "png"))
    assert back.size == (40, 48) and back.is_gray == data.is_gray and (back.alpha is None) == (data.alpha is None)


def test_animated_gif_first_frame_with_warning():
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = read_image_bytes(buf.getvalue())
    assert any("first frame" in str(w.message) for w in caught)
    assert np.allclose(d.color[0, 0] * 255, [255, 0, 0], atol=1)


def test_wrong_extension_and_one_pixel(tmp_path, tiny):
    p = tmp_path / "really_a_png.jpg"
    p.write_bytes(_bytes(Image.new("RGB", (1, 1), (10, 200, 30)), "PNG"))
    d = read_image(p)
    out = tiny.upscale_data(d)
    assert out.size == (4, 4)


@pytest.mark.parametrize(
    "name,data,fragment",
    [
        ("zero-size", _png_with_ihdr(0, 0), "zero size|corrupted|not an image"),
        ("garbage", bytes(range(256)) * 4, "not an image"),
        ("html", b"<!doctype html><html></html>", "not an image"),
        ("truncated-jpeg", _bytes(Image.fromarray(natural_image(64, 64)), "JPEG")[:600], "truncated|corrupted"),
        (
            "corrupted-png",
            (lambda b: b[:60] + bytes(len(b) - 80) + b[-20:])(_bytes(Image.fromarray(natural_image(32, 32)), "PNG")),
            "corrupted|truncated",
        ),
        ("bomb-header", _png_with_ihdr(50_000, 50_000), "over the limit|bomb"),
    ],
)
def test_hostile_files_give_one_clear_error(name, data, fragment):
    with pytest.raises(ImageError, match=fragment):
        read_image_bytes(data, name)


@pytest.mark.filterwarnings("ignore")
def test_fuzz_findings_in_tiff_parser_become_clean_errors():
    """fuzz/fuzz_decode.py found Pillow's TIFF reader raising TypeError/KeyError/IndexError."""
    import random

    from fuzz_seeds import mutate_tiff_samples

    leaked = 0
    for data in mutate_tiff_samples(random.Random(0), 3000):
        try:  # what Pillow itself does with the input on the calls our decoder makes
            from PIL import ImageOps

            with Image.open(io.BytesIO(data)) as im:
                im.load()
                getattr(im, "n_frames", 1)
                ImageOps.exif_transpose(im)
        except (TypeError, KeyError, IndexError, AttributeError):
            leaked += 1
        except Exception:
            pass
        try:
            read_image_bytes(data, "t.tif")
        except ImageError:
            pass
    assert leaked > 0, "the sample no longer reproduces the finding; the test would prove nothing"


def test_cli_over_a_mixed_corpus(tmp_path, capsys):
    from srgan.hub import save_generator
    from srgan.models import Generator

    model = save_generator(Generator(4, 1, 8), tmp_path / "t.safetensors")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for mode, (im, fmt, _) in _mode_cases().items():
        (corpus / f"{mode.replace(';', '').replace('+', '_')}.{'tif' if fmt == 'TIFF' else fmt.lower()}").write_bytes(
            _bytes(im, fmt)
        )
    (corpus / "bad.png").write_bytes(b"nope")
    (corpus / "cut.png").write_bytes(_bytes(Image.fromarray(RGB), "PNG")[:50])
    rc = main(["upscale", str(corpus), "-o", str(tmp_path / "out"), "-m", str(model), "-q"])
    err = capsys.readouterr().err
    assert rc == 1
    lines = [line for line in err.splitlines() if line.startswith("srgan: error:")]
    assert len(lines) == 3 and "2 of 13 inputs failed" in lines[-1]
    assert "Traceback" not in err
    assert len(list((tmp_path / "out").iterdir())) == 11


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    mode=st.sampled_from(["L", "LA", "RGB", "RGBA", "I;16"]),
    seed=st.integers(0, 2**16),
)
def test_fuzz_decode_upscale_encode_roundtrip(tiny, h, w, mode, seed):
    rng = np.random.default_rng(seed)
    if mode == "I;16":
        arr = rng.integers(0, 65536, (h, w), dtype=np.uint16)
        im = Image.fromarray(arr)
    else:
        arr = rng.integers(0, 256, (h, w, len(mode)), dtype=np.uint8)
        im = Image.fromarray(arr[..., 0] if mode == "L" else arr, mode if mode != "L" else None)
    d = read_image_bytes(_bytes(im, "PNG"))
    exact = read_image_bytes(encode_image(d, "png"))  # decode/encode round trip is lossless
    assert np.array_equal(exact.color, d.color) and (exact.alpha is None or np.array_equal(exact.alpha, d.alpha))
    out = tiny.upscale_data(d)
    assert np.isfinite(out.color).all() and 0 <= out.color.min() and out.color.max() <= 1
    back = read_image_bytes(encode_image(out, "png"))
    assert back.size == (4 * w, 4 * h) and back.bit_depth == d.bit_depth and back.is_gray == d.is_gray
