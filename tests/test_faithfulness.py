import numpy as np
import pytest
from conftest import natural_image

from srgan.faithfulness import enforce_consistency, hallucination_map, lr_consistency, overlay
from srgan.imresize import imresize


def _scene(h=96, w=96):
    """Left half smooth gradient, right half 2 px stripes that x4 downscaling erases."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = 0.3 + 0.4 * xx / w + 0.0 * yy
    stripes = 0.5 + 0.4 * np.sign(np.sin(np.pi * yy / 2 + 0.3))
    img[:, w // 2 :] = stripes[:, w // 2 :]
    return np.repeat(img[..., None], 3, axis=2)


def test_bicubic_then_downscale_is_consistent():
    lr = natural_image(40, 48)
    up = imresize(lr.astype(np.float64) / 255, 4)
    assert lr_consistency(up, lr, 4) > 40
    noisy = np.clip(up + np.random.default_rng(0).normal(0, 0.08, up.shape), 0, 1)
    assert lr_consistency(noisy, lr, 4) < lr_consistency(up, lr, 4) - 5


def test_enforcement_makes_output_consistent():
    lr = natural_image(32, 40)
    rng = np.random.default_rng(1)
    # an "SR" that invents detail: bicubic plus strong high-frequency texture
    sr = np.clip(imresize(lr.astype(np.float64) / 255, 4) + rng.normal(0, 0.1, (128, 160, 3)), 0, 1)
    before = lr_consistency(sr, lr, 4)
    fixed = enforce_consistency(sr, lr, 4)
    after = lr_consistency(fixed, lr, 4)
    assert after > 45 and after > before + 15
    # the quantised output is as consistent as quantisation allows (LR itself is 8-bit)
    q = np.floor(fixed * 255 + 0.5).astype(np.uint8)
    assert lr_consistency(q, lr, 4) > 45
    assert np.abs(fixed - sr).mean() < 0.1  # a projection: the detail is kept where it is consistent


def test_hallucination_map_lights_up_on_erased_texture_only():
    hr = _scene()
    lr = np.floor(imresize(hr, 0.25) * 255 + 0.5).astype(np.uint8)
    mmse = imresize(lr.astype(np.float64) / 255, 4)  # stands in for SRResNet: what the LR supports
    m = hallucination_map(hr, mmse, lr, 4)  # HR plays the GAN that "invents" the stripes
    assert m.shape == (96, 96) and 0 <= m.min() and m.max() <= 1
    smooth, textured = m[8:-8, 8:40].mean(), m[8:-8, 56:-8].mean()
    assert textured > 0.5 and smooth < 0.1
    assert hallucination_map(mmse, mmse, lr, 4)[8:-8, 8:-8].mean() < 0.1  # the reference itself is dark
    ov = overlay(hr, m)
    assert ov.shape == (96, 96, 3) and ov.dtype == np.uint8


def test_cli_report_enforcement_and_map(tmp_path, tiny_model_file):
    import json

    from PIL import Image

    from srgan.cli import main

    Image.fromarray(natural_image(16, 20)).save(tmp_path / "a.png")
    out = tmp_path / "o"
    args = ["upscale", str(tmp_path / "a.png"), "-o", str(out), "-m", str(tiny_model_file), "-q", "--report"]
    assert main(args) == 0
    plain = json.loads((out / "a.report.json").read_text())["lr_consistency_psnr"]
    assert main(args + ["--overwrite", "--enforce-consistency", "--hallucination-map", str(tmp_path / "maps")]) == 0
    rep = json.loads((out / "a.report.json").read_text())
    assert rep["enforced_consistency"] and rep["lr_consistency_psnr"] > max(40.0, plain)
    assert Image.open(tmp_path / "maps" / "a_hallucination.png").size == (80, 64 + 36)  # with its colour bar


def test_evaluate_reports_lr_consistency(tmp_path, tiny_model_file):
    import json

    from PIL import Image

    from srgan.cli import main

    d = tmp_path / "S"
    d.mkdir()
    Image.fromarray(natural_image(32, 32)).save(d / "x.png")
    assert main(["evaluate", str(d), "-m", str(tiny_model_file), "-o", str(tmp_path / "ev")]) == 0
    m = json.loads((tmp_path / "ev" / "results.json").read_text())[0]["methods"]
    assert m["bicubic"]["mean"]["lr_psnr"] > 35 and "lr_psnr" in m["tiny-x4"]["mean"]
    assert "LR-consistency" in (tmp_path / "ev" / "results.md").read_text()


def test_enforcement_raises_shipped_srgan_to_the_consistency_of_its_source():
    """The shipped GAN invents detail; projecting its output makes it as consistent with the LR
    as the photo the LR was made from (both 8-bit), and keeps it close to the GAN's output."""
    import matplotlib.cbook
    from PIL import Image

    from srgan.api import from_pretrained
    from srgan.hub import packaged_models

    if "srgan-x4" not in packaged_models():
        pytest.skip("srgan-x4 is not packaged in this checkout")
    photo = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    hr = np.asarray(photo)[100:228, 180:308]  # face and hair, 128x128
    lr = np.floor(imresize(hr.astype(np.float64) / 255, 0.25) * 255 + 0.5).astype(np.uint8)
    source = lr_consistency(hr, lr, 4)
    sr = from_pretrained("srgan-x4", device="cpu").upscale(lr)
    before = lr_consistency(sr, lr, 4)
    fixed = np.floor(enforce_consistency(sr, lr, 4) * 255 + 0.5).astype(np.uint8)
    after = lr_consistency(fixed, lr, 4)
    assert before < source - 3, (before, source)
    assert after >= source - 1.0, (after, source)
    assert np.abs(fixed.astype(int) - sr.astype(int)).mean() < 4  # a small correction, not a new image
