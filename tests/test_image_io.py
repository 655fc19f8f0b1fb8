import io

import numpy as np
import pytest
from conftest import natural_image
from PIL import Image, ImageCms

from srgan.image_io import ImageError, read_image, write_image


def _save(tmp_path, name, im, **kw):
    p = tmp_path / name
    im.save(p, **kw)
    return p


def test_rgba_roundtrip_keeps_alpha(tmp_path):
    rgba = np.dstack([natural_image(20, 30), np.linspace(0, 255, 600).reshape(20, 30).astype(np.uint8)])
    p = _save(tmp_path, "a.png", Image.fromarray(rgba, "RGBA"))
    img = read_image(p)
    assert img.color.shape == (20, 30, 3) and img.alpha.shape == (20, 30)
    write_image(tmp_path / "b.png", img)
    back = np.asarray(Image.open(tmp_path / "b.png"))
    assert back.shape == (20, 30, 4) and np.array_equal(back, rgba)


def test_gray_stays_gray(tmp_path):
    g = natural_image(16, 16)[..., 0]
    img = read_image(_save(tmp_path, "g.png", Image.fromarray(g, "L")))
    assert img.is_gray
    write_image(tmp_path / "o.png", img)
    out = Image.open(tmp_path / "o.png")
    assert out.mode == "L" and np.array_equal(np.asarray(out), g)


def test_16bit_png_rgb_and_gray_roundtrip_exact(tmp_path):
    import png

    rng = np.random.default_rng(0)
    rgb16 = rng.integers(0, 65536, (9, 7, 3), dtype=np.uint16)
    p = tmp_path / "rgb16.png"
    with p.open("wb") as f:
        png.Writer(7, 9, greyscale=False, bitdepth=16).write(f, rgb16.reshape(9, 21))
    img = read_image(p)
    assert img.bit_depth == 16 and img.color.shape == (9, 7, 3)
    write_image(tmp_path / "rgb16_out.png", img)
    _, _, rows, info = png.Reader(filename=str(tmp_path / "rgb16_out.png")).asDirect()
    assert info["bitdepth"] == 16
    assert np.array_equal(np.vstack([np.asarray(r, np.uint16) for r in rows]).reshape(9, 7, 3), rgb16)
    g16 = rng.integers(0, 65536, (5, 6), dtype=np.uint16)
    pg = _save(tmp_path, "g16.png", Image.fromarray(g16))
    gi = read_image(pg)
    assert gi.bit_depth == 16 and gi.is_gray
    assert np.array_equal(np.round(gi.color[..., 0] * 65535).astype(np.uint16), g16)


def test_exif_orientation_applied(tmp_path):
    arr = natural_image(10, 20)  # 10 rows x 20 cols
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 CW on display
    p = _save(tmp_path, "r.png", im, exif=exif)
    img = read_image(p)
    expected = np.rot90(arr, -1)  # orientation 6: rotate 90 degrees clockwise
    assert np.array_equal(np.round(img.color * 255).astype(np.uint8), expected)
    kept = Image.Exif()
    kept.load(img.exif)
    assert kept.get(0x0112, 1) == 1  # the orientation is applied once, not again by viewers


def test_icc_profile_preserved(tmp_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    p = _save(tmp_path, "c.png", Image.fromarray(natural_image(8, 8)), icc_profile=icc)
    img = read_image(p)
    assert img.icc_profile == icc
    for ext in ("png", "jpg", "webp"):
        write_image(tmp_path / f"o.{ext}", img)
        assert Image.open(tmp_path / f"o.{ext}").info.get("icc_profile") == icc, ext


@pytest.mark.parametrize("case", ["truncated", "not_image", "empty", "missing", "folder"])
def test_bad_inputs_raise_clear_errors(tmp_path, case):
    p = tmp_path / "x.png"
    if case == "truncated":
        buf = io.BytesIO()
        Image.fromarray(natural_image(64, 64)).save(buf, "PNG")
        p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
        match = "truncated|corrupted"
    elif case == "not_image":
        p.write_text("hello, I am not a picture\n" * 10)
        match = "not an image"
    elif case == "empty":
        p.write_bytes(b"")
        match = "empty"
    elif case == "missing":
        match = "no such file"
    else:
        p.mkdir()
        match = "folder"
    with pytest.raises(ImageError, match=match):
        read_image(p)


def test_oversized_input_refused(tmp_path):
    p = _save(tmp_path, "big.png", Image.new("RGB", (300, 200)))
    with pytest.raises(ImageError, match="over the limit"):
        read_image(p, max_pixels=50_000)
    assert read_image(p, max_pixels=60_000).size == (300, 200)


def test_no_silent_overwrite(tmp_path):
    img = read_image(_save(tmp_path, "a.png", Image.new("RGB", (4, 4))))
    write_image(tmp_path / "o.png", img)
    with pytest.raises(ImageError, match="already exists"):
        write_image(tmp_path / "o.png", img)
    write_image(tmp_path / "o.png", img, overwrite=True)


@pytest.mark.parametrize("mode", ["P", "CMYK", "1", "LA"])
def test_other_modes_decode(tmp_path, mode):
    im = Image.fromarray(natural_image(12, 12)).convert(mode)
    ext = "jpg" if mode == "CMYK" else "png"
    img = read_image(_save(tmp_path, f"m.{ext}", im))
    assert img.color.shape[:2] == (12, 12)
    if mode == "LA":
        assert img.is_gray and img.alpha is not None
