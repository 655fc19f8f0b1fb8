import numpy as np
import pytest
from conftest import SHARED
from PIL import Image

from srgan.imresize import imresize
from srgan.niqe import load_pristine, niqe_image

PARAMS = SHARED / "metrics" / "niqe_pris_params.npz"


@pytest.fixture(scope="module")
def pristine():
    if not PARAMS.exists():
        pytest.skip(f"NIQE pristine parameters not found at {PARAMS} (they are not shipped)")
    return load_pristine(PARAMS)


def test_niqe_matches_matlab_on_baboon(bench, pristine):
    hr = np.asarray(Image.open(bench / "Set14" / "x4" / "HR" / "img_001.png"))
    assert niqe_image(hr, pristine) == pytest.approx(5.73, abs=0.005)  # MATLAB's value for this image


def test_niqe_ranks_blur_as_less_natural(bench, pristine):
    hr = np.asarray(Image.open(bench / "Set14" / "x4" / "HR" / "img_001.png"))
    blurred = imresize(imresize(hr, 0.25), 4)
    assert niqe_image(blurred, pristine, border=4) > niqe_image(hr, pristine, border=4) + 1.0


def test_bad_params_file(tmp_path):
    np.savez(tmp_path / "p.npz", mu_pris_param=np.zeros((1, 36)))
    with pytest.raises(ValueError, match="missing"):
        load_pristine(tmp_path / "p.npz")


def test_niqe_is_not_lowered_by_grain(bench, pristine):
    """Texture that lowers NIQE must be structure: Gaussian grain on a PSNR model's output raises it."""
    from srgan.api import from_pretrained

    lr = np.asarray(Image.open(bench / "Set14" / "x4" / "LR" / "img_013.png").convert("RGB"))
    sr = from_pretrained("srresnet-x4").upscale(lr).astype(np.float32)
    rng = np.random.default_rng(0)
    scores = [
        niqe_image(np.clip(sr + rng.normal(0, s, sr.shape), 0, 255).astype(np.uint8), pristine, border=4)
        for s in (0, 4, 8)
    ]
    assert scores[0] < scores[1] < scores[2], scores


def test_evaluate_reports_hr_own_niqe_as_the_reference_row(bench, pristine):
    from srgan.evaluate import REFERENCE, bicubic_method, evaluate_set, format_markdown

    res = evaluate_set(bench / "Set14", 4, [bicubic_method(4)], niqe_params=pristine, only=["img_001*"], reference=True)
    hr = np.asarray(Image.open(bench / "Set14" / "x4" / "HR" / "img_001.png"))
    assert res.mean(REFERENCE)["niqe"] == pytest.approx(niqe_image(hr, pristine, border=4))
    assert res.mean(REFERENCE)["niqe"] < res.mean("bicubic")["niqe"] - 1.0, "HR is more natural than bicubic"
    assert f"| {REFERENCE} | - | - | - | - | {res.mean(REFERENCE)['niqe']:.2f} |" in format_markdown([res])
    plain = evaluate_set(bench / "Set14", 4, [bicubic_method(4)], niqe_params=pristine, only=["img_001*"])
    assert not plain.reference and REFERENCE not in format_markdown([plain])
