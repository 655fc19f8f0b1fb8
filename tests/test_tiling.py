import numpy as np
import pytest
import torch

from srgan.inference import tail_radius, trunk_radius, upscale_tensor
from srgan.models import Generator


def _random_eval_generator(blocks=3, scale=4):
    torch.manual_seed(0)
    g = Generator(scale, blocks)
    for m in g.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return g.eval()


@pytest.mark.parametrize("tile,tail_tile", [(24, 8), (37, 11), (64, 64)])
@pytest.mark.parametrize("scale", [2, 4])
def test_tiled_equals_untiled_non_square(tile, tail_tile, scale):
    g = _random_eval_generator(scale=scale)
    x = torch.rand(1, 3, 53, 79)  # not a multiple of any tile size
    ref = upscale_tensor(g, x, scale, tile=None)
    out = upscale_tensor(g, x, scale, tile=tile, tail_tile=tail_tile)
    assert out.shape == (1, 3, 53 * scale, 79 * scale)
    assert (out - ref).abs().max().item() < 1 / 255 / 100  # float rounding only


@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_bands_equal_untiled(workers):
    g = _random_eval_generator()
    for shape in ((1, 3, 61, 29), (1, 3, 22, 57)):  # split along rows, then along columns
        x = torch.rand(*shape)
        ref = upscale_tensor(g, x, 4, tile=None)
        out = upscale_tensor(g, x, 4, tile=24, tail_tile=9, workers=workers)
        assert (out - ref).abs().max().item() < 1 / 255 / 100
    assert torch.get_num_threads() >= 1


def test_batched_tail_subtiles_equal_one_at_a_time():
    g = _random_eval_generator()
    x = torch.rand(2, 3, 40, 52)  # a batch of two images too
    ref = upscale_tensor(g, x, 4, tile=None)
    out = upscale_tensor(g, x, 4, tile=40, tail_tile=9, batch=5)
    assert (out - ref).abs().max().item() < 1 / 255 / 100


def test_too_little_context_would_show():
    """Guard against a test that cannot fail: tiling with no context is visibly wrong."""
    g = _random_eval_generator()
    x = torch.rand(1, 3, 40, 40)
    ref = upscale_tensor(g, x, 4, tile=None)
    naive = torch.cat([torch.cat([g(x[:, :, i:i + 20, j:j + 20]) for j in (0, 20)], 3) for i in (0, 20)], 2).clamp(0, 1)
    assert (naive - ref).abs().max().item() > 1 / 255


def test_receptive_radii():
    g = Generator(4, 16)
    assert trunk_radius(g) == 37
    assert tail_radius(g) == 4


def test_shipped_model_tiled_on_real_image(bench):
    from PIL import Image

    from srgan.api import from_pretrained

    lr = np.asarray(Image.open(bench / "Set14" / "x4" / "LR" / "img_002.png"))  # 180x144
    a = from_pretrained(tile=None).upscale(lr)
    b = from_pretrained(tile=50).upscale(lr)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_fast_path_equals_reference_path(scale):
    """The fused tail + tiling + bands must match the plain untiled forward within 1/255."""
    from srgan.api import SRModel

    g = _random_eval_generator(scale=scale)
    for m in g.modules():
        if isinstance(m, torch.nn.PReLU):
            m.weight.data.uniform_(0.05, 0.3)
    img = (np.random.default_rng(scale).random((45, 71, 3)) * 255).astype(np.uint8)  # non-square, not a tile multiple
    ref = SRModel(g, device="cpu", tile=None, fast=False).upscale(img).astype(int)
    for tile, workers in ((None, 1), (32, 1), (20, 2)):
        out = SRModel(g, device="cpu", tile=tile, workers=workers, fast=True).upscale(img).astype(int)
        assert out.shape == ref.shape
        assert np.abs(out - ref).max() <= 1, (tile, workers)
