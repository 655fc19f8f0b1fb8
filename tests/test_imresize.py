import numpy as np
import pytest
from PIL import Image

from srgan.imresize import imresize, resize_weights
from srgan.metrics import psnr


@pytest.mark.parametrize("set_name", ["Set5", "Set14"])
@pytest.mark.parametrize("scale", [2, 4])
def test_matches_matlab_lr_images(bench, set_name, scale):
    """Downscaling the shared HR reproduces MATLAB's LR: >= 45 dB, interior exact."""
    hr_dir = bench / set_name / f"x{scale}" / "HR"
    paths = sorted(hr_dir.glob("*.png"))
    assert paths
    for p in paths:
        hr = np.asarray(Image.open(p))
        lr = np.asarray(Image.open(hr_dir.parent / "LR" / p.name))
        ours = imresize(hr, 1 / scale)
        assert ours.shape == lr.shape and ours.dtype == np.uint8
        assert psnr(ours.astype(float), lr.astype(float)) >= 45.0, p.name
        b = 2 * scale
        assert np.array_equal(ours[b:-b, b:-b], lr[b:-b, b:-b]), p.name


def test_weights_rows_sum_to_one_and_constant_preserved():
    for n_in, n_out in [(96, 24), (24, 96), (17, 5), (5, 20)]:
        w = resize_weights(n_in, n_out, n_out / n_in)
        assert w.shape == (n_out, n_in)
        np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    img = np.full((40, 30, 3), 77, np.uint8)
    assert np.all(imresize(img, 0.25) == 77) and np.all(imresize(img, 4) == 77)


def test_known_values_upscale_1d():
    # Output pixel 2 of [0 255] -> 4 samples at u = 1.25 (1-based): Keys' weights
    # for distances 1.25, 0.25, -0.75, -1.75 are -0.0703, 0.8672, 0.2266, -0.0234;
    # with symmetric edges the taps read 0, 0, 255, 255, so 255 * 0.2031 = 51.8 -> 52.
    out = imresize(np.array([[0, 255]], np.uint8), output_shape=(1, 4))
    assert out.tolist() == [[0, 52, 203, 255]]


def test_shapes_dtypes_and_errors():
    img = np.random.default_rng(0).integers(0, 255, (37, 50), dtype=np.uint8)
    assert imresize(img, 0.5).shape == (19, 25)
    f = imresize(img.astype(np.float64) / 255, 2)
    assert f.dtype == np.float64 and f.shape == (74, 100)
    u16 = imresize((img.astype(np.uint16) * 257), 0.5)
    assert u16.dtype == np.uint16
    with pytest.raises(ValueError):
        imresize(img)
