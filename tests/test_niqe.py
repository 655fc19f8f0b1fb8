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
