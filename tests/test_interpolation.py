import numpy as np
import pytest
import torch
from conftest import natural_image
from PIL import Image

import srgan
from srgan.cli import main
from srgan.hub import ModelFileError, interpolate_generators, save_generator
from srgan.models import Generator
from srgan.provenance import read_provenance


@pytest.fixture
def pair(tmp_path):
    torch.manual_seed(1)
    a, b = Generator(4, 2, 8), Generator(4, 2, 8)
    pa = save_generator(a, tmp_path / "mmse.safetensors")
    pb = save_generator(b, tmp_path / "gan.safetensors", {"mmse_reference": str(pa)})
    return a, b, pa, pb


def test_interpolation_endpoints_and_midpoint(pair):
    a, b, _, _ = pair
    for alpha, expect in ((0.0, a), (1.0, b)):
        out = interpolate_generators(a, b, alpha)
        assert all(torch.equal(out.state_dict()[k], v) for k, v in expect.state_dict().items())
    mid = interpolate_generators(a, b, 0.25).state_dict()
    k = "head.0.weight"
    assert torch.allclose(mid[k], 0.75 * a.state_dict()[k] + 0.25 * b.state_dict()[k])


def test_interpolation_errors(pair):
    a, _, _, _ = pair
    with pytest.raises(ModelFileError, match="architectures differ"):
        interpolate_generators(a, Generator(4, 3, 8), 0.5)
    with pytest.raises(ModelFileError, match="alpha must be in"):
        interpolate_generators(a, a, 1.5)


def test_api_and_cli_alpha(pair, tmp_path):
    a, b, pa, pb = pair
    img = natural_image(12, 12)
    m0 = srgan.from_pretrained(str(pb), device="cpu", alpha=0.0).upscale(img)
    ref = srgan.from_pretrained(str(pa), device="cpu").upscale(img)
    assert np.array_equal(m0, ref)  # alpha = 0 is the MMSE model (reference taken from the card)
    m1 = srgan.from_pretrained(str(pb), device="cpu", alpha=1.0).upscale(img)
    assert np.array_equal(m1, srgan.from_pretrained(str(pb), device="cpu").upscale(img))
    Image.fromarray(img).save(tmp_path / "i.png")
    assert (
        main(["upscale", str(tmp_path / "i.png"), "-o", str(tmp_path / "o"), "-m", str(pb), "--alpha", "0.3", "-q"])
        == 0
    )
    assert read_provenance(tmp_path / "o" / "i.png")["alpha"] == 0.3
