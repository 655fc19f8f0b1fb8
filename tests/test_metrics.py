import numpy as np
import pytest
from PIL import Image

from srgan.imresize import imresize
from srgan.metrics import evaluate_pair, psnr, rgb_to_y, ssim

# Bicubic (MATLAB) on the shared benchmark files, from an independent reference implementation
REFERENCE = {
    ("Set5", 4): (28.43, 0.8111),
    ("Set14", 4): (26.09, 0.7048),
    ("Set5", 2): (33.67, 0.9303),
    ("Set14", 2): (30.33, 0.8699),
}


@pytest.mark.parametrize("set_name,scale", list(REFERENCE))
def test_bicubic_reference_numbers(bench, set_name, scale):
    d = bench / set_name / f"x{scale}"
    scores = []
    for p in sorted((d / "HR").glob("*.png")):
        hr = np.asarray(Image.open(p))
        lr = np.asarray(Image.open(d / "LR" / p.name))
        scores.append(evaluate_pair(imresize(lr, scale), hr, scale))
    ref_psnr, ref_ssim = REFERENCE[(set_name, scale)]
    assert np.mean([s["psnr"] for s in scores]) == pytest.approx(ref_psnr, abs=0.05)
    assert np.mean([s["ssim"] for s in scores]) == pytest.approx(ref_ssim, abs=0.003)


def test_y_channel_range():
    assert rgb_to_y(np.zeros((2, 2, 3), np.uint8)) == pytest.approx(16.0)
    assert rgb_to_y(np.full((2, 2, 3), 255, np.uint8)) == pytest.approx(235.0)
    gray = np.full((2, 2), 255, np.uint8)
    assert rgb_to_y(gray) == pytest.approx(235.0)


def test_psnr_ssim_basic_properties():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 255, (64, 64))
    assert psnr(a, a) == float("inf")
    assert ssim(a, a) == pytest.approx(1.0)
    b = a + rng.normal(0, 5, a.shape)
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / np.mean((a - b) ** 2)))
    assert 0 < ssim(a, b) < 1
    assert ssim(a, 255 - a) < 0  # anti-correlated structure


def test_ssim_matches_closed_form_on_constant_images():
    # constant images: sigma terms vanish, SSIM = (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1)
    a, b = np.full((20, 20), 100.0), np.full((20, 20), 120.0)
    c1 = (0.01 * 255) ** 2
    assert ssim(a, b) == pytest.approx((2 * 100 * 120 + c1) / (100**2 + 120**2 + c1))


def test_evaluate_pair_shaves_border():
    hr = np.full((20, 20, 3), 128, np.uint8)
    sr = hr.copy()
    sr[:4] = 0  # damage only the border band
    assert evaluate_pair(sr, hr, 4)["psnr"] == float("inf")
    assert evaluate_pair(sr, hr, 2)["psnr"] < 40
