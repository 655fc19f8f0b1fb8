import numpy as np
import pytest
from conftest import natural_image
from PIL import Image

import srgan


@pytest.fixture(scope="module")
def model():
    return srgan.from_pretrained("srresnet-x4", device="cpu")


def test_upscale_pil_and_numpy_kinds(model):
    rgb = natural_image(20, 24)
    out = model.upscale(Image.fromarray(rgb))
    assert isinstance(out, Image.Image) and out.size == (96, 80) and out.mode == "RGB"
    a = model.upscale(rgb)
    assert a.dtype == np.uint8 and a.shape == (80, 96, 3)
    assert np.array_equal(np.asarray(out), a)
    g = model.upscale(rgb[..., 0])
    assert g.shape == (80, 96)
    rgba = np.dstack([rgb, np.full((20, 24), 200, np.uint8)])
    o4 = model.upscale(rgba)
    assert o4.shape == (80, 96, 4) and np.all(o4[..., 3] == 200)
    u16 = model.upscale(rgb.astype(np.uint16) * 257)
    assert u16.dtype == np.uint16 and u16.max() > 255
    f = model.upscale(rgb.astype(np.float32) / 255)
    assert f.dtype == np.float32 and 0 <= f.min() and f.max() <= 1


def test_upscale_beats_bicubic_on_real_image(model, bench):
    from srgan.imresize import imresize
    from srgan.metrics import evaluate_pair

    d = bench / "Set5" / "x4"
    hr = np.asarray(Image.open(d / "HR" / "img_003.png"))
    lr = np.asarray(Image.open(d / "LR" / "img_003.png"))
    assert evaluate_pair(model.upscale(lr), hr, 4)["psnr"] > evaluate_pair(imresize(lr, 4), hr, 4)["psnr"] + 0.5


def test_bad_arrays_rejected(model):
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        model.upscale(np.full((4, 4, 3), 2.0, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        model.upscale(np.full((4, 4, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="shape"):
        model.upscale(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(TypeError):
        model.upscale("photo.jpg")


def test_half_on_cpu_is_an_error():
    with pytest.raises(ValueError, match="GPU"):
        srgan.from_pretrained(device="cpu", half=True)


def test_non_finite_output_is_an_error_not_garbage(tiny_model_file):
    import torch

    m = srgan.from_pretrained(str(tiny_model_file), device="cpu")
    with torch.no_grad():
        m.generator.head[0].bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="tiny-x4 produced NaN/Inf in fp32: its weights are unusable") as err:
        m.upscale(natural_image(8, 8))
    assert "--half" not in str(err.value), "an fp32 run must not blame --half"


def test_nan_weights_file_rejected(tmp_path):
    import torch

    from srgan.hub import ModelFileError, save_generator
    from srgan.models import Generator

    g = Generator(4, 1, 8)
    with torch.no_grad():
        g.head[0].weight[0, 0, 0, 0] = float("nan")
    p = save_generator(g, tmp_path / "nan.safetensors")
    with pytest.raises(ModelFileError, match="NaN"):
        srgan.from_pretrained(str(p))


def test_bf16_path_runs_on_cpu_with_the_same_api():
    img = natural_image(24, 20)
    ref = srgan.from_pretrained(device="cpu").upscale(img).astype(int)
    low = srgan.from_pretrained(device="cpu", precision="bf16").upscale(img).astype(int)
    assert low.shape == ref.shape and np.abs(low - ref).mean() < 3  # bf16 keeps ~3 significant digits
    with pytest.raises(ValueError, match="precision"):
        srgan.from_pretrained(device="cpu", precision="fp8")
