import pytest
import torch

from srgan.hub import count_parameters
from srgan.models import Discriminator, Generator


@pytest.mark.parametrize(
    "scale,blocks,expected",
    [(4, 16, 1_549_462), (4, 5, 734_219), (2, 16, 1_401_749), (8, 16, 1_697_175)],
)
def test_generator_parameter_counts(scale, blocks, expected):
    # 734,219 is the count leftthomas/SRGAN (the spec's code) prints for its x4 B=5 generator
    assert count_parameters(Generator(scale, blocks)) == expected


def test_discriminator_parameter_count_matches_spec_code():
    assert count_parameters(Discriminator()) == 5_215_425


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_generator_output_shape(scale):
    g = Generator(scale, num_blocks=2).eval()
    y = g(torch.rand(2, 3, 13, 9))
    assert y.shape == (2, 3, 13 * scale, 9 * scale)


def test_generator_layout_follows_paper():
    g = Generator(4, 16)
    assert g.head[0].kernel_size == (9, 9) and isinstance(g.head[1], torch.nn.PReLU)
    assert len(g.body) == 16 and len(g.upsample) == 2
    blk = g.body[0]
    assert isinstance(blk.bn1, torch.nn.BatchNorm2d) and isinstance(blk.prelu, torch.nn.PReLU)
    assert g.upsample[0].conv.out_channels == 256 and g.upsample[0].shuffle.upscale_factor == 2
    assert g.tail.kernel_size == (9, 9) and g.tail.out_channels == 3


def test_generator_rejects_bad_scale():
    with pytest.raises(ValueError, match="scale must be 2, 4 or 8"):
        Generator(3)


@pytest.mark.parametrize("size", [(16, 16), (96, 96), (40, 72)])
def test_discriminator_any_size_returns_logits(size):
    d = Discriminator().eval()
    with torch.no_grad():
        out = d(torch.rand(3, 3, *size))
    assert out.shape == (3,)
    # logits, not probabilities: with a zero last layer and bias 5 the output is exactly 5
    d.net[-1].weight.data.zero_()
    d.net[-1].bias.data.fill_(5.0)
    with torch.no_grad():
        out = d(torch.rand(3, 3, *size))
    assert torch.equal(out, torch.full((3,), 5.0))


def test_discriminator_strides_and_bn():
    d = Discriminator()
    convs = [m for m in d.net if isinstance(m, torch.nn.Conv2d)][:8]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in d.net) == 7


def test_imdn_has_the_papers_size_and_a_global_attention():
    """IMDN x4 (Hui et al. 2019, Table 4: 715K parameters); its CCA reads the whole image."""
    from srgan.models.registry import build_generator

    g = build_generator("imdn").eval()
    assert sum(p.numel() for p in g.parameters()) == 715_176
    torch.manual_seed(0)
    x = torch.rand(1, 3, 16, 20)
    with torch.no_grad():
        y = g(x)
        assert y.shape == (1, 3, 64, 80)
        x2 = x.clone()
        x2[..., 12:, 16:] += 0.5  # a change in one corner...
        y2 = g(x2)
    assert (y2 - y)[..., :8, :8].abs().max() > 0  # ...reaches the far corner (through the channel statistics)
    with pytest.raises(ValueError, match="multiple of 4"):
        build_generator("imdn", channels=30)
