import numpy as np
import pytest
import torch

from srgan.inference import upscale_tensor
from srgan.models import ARCHITECTURES, Generator, build_generator, receptive_radius


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
    naive = torch.cat([torch.cat([g(x[:, :, i : i + 20, j : j + 20]) for j in (0, 20)], 3) for i in (0, 20)], 2).clamp(
        0, 1
    )
    assert (naive - ref).abs().max().item() > 1 / 255


def test_receptive_radii():
    g = Generator(4, 16)
    assert g.tile_radii() == (37, 4)
    assert receptive_radius(g) == 41
    assert receptive_radius(build_generator("srvgg")) == 19  # 18 3x3 convs at LR, + 1
    assert receptive_radius(build_generator("rrdbnet", num_blocks=2)) == 35
    assert receptive_radius(torch.nn.Conv2d(3, 3, 3)) is None  # unknown module: runs untiled
    assert receptive_radius(build_generator("imdn")) is None  # global channel attention


def _randomised(arch, **params):
    """A registered architecture with random weights, BN statistics and PReLU slopes, in eval mode."""
    torch.manual_seed(1)
    g = build_generator(arch, **params)
    for m in g.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
        if isinstance(m, torch.nn.PReLU):
            m.weight.data.uniform_(0.05, 0.3)
    if arch == "rrdbnet":  # centre its output in [0, 1], where clamping hides nothing
        g.conv_last.bias.data.fill_(0.5)
    return g.eval()


SMALL = {
    "srresnet": {"num_blocks": 2},
    "rrdbnet": {"num_blocks": 1, "channels": 16, "growth_channels": 8},
    "srvgg": {"num_blocks": 4, "channels": 16},
    "msrresnet": {"num_blocks": 2, "channels": 16},
    "leftthomas": {"num_blocks": 2, "channels": 16},
    "imdn": {"num_blocks": 2, "channels": 16},  # radius None: runs untiled
}


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_registered_arch_tiles_exactly(arch):
    """Single-level tiles grown by the registry's receptive radius equal the untiled forward."""
    g = _randomised(arch, **SMALL[arch])
    x = torch.rand(1, 3, 41, 57)
    ref = g(x).clamp(0, 1)
    for tile, workers in ((16, 1), (23, 2)):
        out = upscale_tensor(g, x, g.scale, tile=tile, workers=workers)
        assert out.shape == ref.shape
        assert (out - ref).abs().max().item() < 1e-5, (arch, tile, workers)


@pytest.mark.parametrize(
    "arch", ["srvgg", "msrresnet"]
)  # RRDB's 0.2-scaled residuals leave far pixels in float noise at random init
def test_radius_is_needed(arch):
    """Half the registry's radius shows at tile seams: the exactness test above is not vacuous."""
    from srgan.inference import _upscale_region_flat

    g = _randomised(arch, **SMALL[arch])
    x = torch.rand(1, 3, 40, 40)
    ref = g(x).clamp(0, 1)
    out = torch.empty_like(ref)
    _upscale_region_flat(g, x, out, 4, (0, 40), (0, 40), 20, receptive_radius(g) // 2)
    assert (out - ref).abs().max().item() > 1e-4


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
