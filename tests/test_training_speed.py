"""The faster training modes (fused tail, bf16 autocast) compute what fp32 computes."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import natural_image

from srgan.models import Discriminator, Generator
from srgan.models.fast import FusedTail
from srgan.models.shuffled_conv import shuffled_conv_bias, shuffled_conv_weight, shuffled_kernel_size
from srgan.train import load_config
from srgan.train.stages import SRGANStage, SRResNetStage
from srgan.train.trainer import precision_label


@pytest.mark.parametrize("k,r", [(9, 2), (3, 2), (5, 3), (1, 2)])
def test_conv_after_shuffle_equals_shuffled_weight_conv_before(k, r):
    torch.manual_seed(0)
    x = torch.randn(2, 5 * r * r, 7, 6, dtype=torch.float64)
    w = torch.randn(3, 5, k, k, dtype=torch.float64)
    b = torch.randn(3, dtype=torch.float64)
    want = F.conv2d(F.pixel_shuffle(x, r), w, b, padding=k // 2)
    w2 = shuffled_conv_weight(w, r)
    assert w2.shape == (3 * r * r, 5 * r * r, shuffled_kernel_size(k, r), shuffled_kernel_size(k, r))
    got = F.pixel_shuffle(F.conv2d(x, w2, b.repeat_interleave(r * r), padding=w2.shape[-1] // 2), r)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
    # every original tap appears exactly r^2 times (once per output phase), nothing else is non-zero
    assert w2.abs().sum().item() == pytest.approx(r * r * w.abs().sum().item())


def test_padded_shuffled_weight_adds_zero_filters_and_the_tail_drops_them():
    torch.manual_seed(1)
    w, b = torch.randn(3, 64, 9, 9), torch.randn(3)
    plain, padded = shuffled_conv_weight(w, 2), shuffled_conv_weight(w, 2, 16)
    assert plain.shape[0] == 12 and padded.shape == (16, *plain.shape[1:])
    assert torch.equal(padded[:12], plain) and not padded[12:].any()
    bias = shuffled_conv_bias(b, 2, 16)
    assert torch.equal(bias[:12], b.repeat_interleave(4)) and not bias[12:].any()
    assert shuffled_conv_weight(torch.randn(3, 4, 9, 9), 2, 8).shape[0] == 16  # 12 rounded up to 8's multiple

    g = Generator(4, num_blocks=1).eval()
    f = torch.rand(1, 64, 11, 13)
    tails = [FusedTail(g, n) for n in (1, 16)]
    assert [t.fused.out_channels for t in tails] == [12, 16]
    with torch.no_grad():
        want = g.tail(g.upsample(f))
        for t in tails:
            torch.testing.assert_close(t(f), want, rtol=0, atol=1e-5)


def test_shuffled_weight_rejects_even_kernels():
    with pytest.raises(ValueError, match="odd square kernel"):
        shuffled_conv_weight(torch.zeros(3, 4, 4, 4), 2)


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_fused_tail_has_the_same_outputs_and_gradients(scale):
    torch.manual_seed(scale)
    g = Generator(scale, num_blocks=2, channels=8).train()
    x = torch.rand(3, 3, 10, 9)
    grads = []
    for fused in (False, True):
        g.zero_grad()
        g.fused_tail = fused
        y = g(x)
        (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
        grads.append((y.detach(), {k: p.grad.clone() for k, p in g.named_parameters()}))
    (y0, g0), (y1, g1) = grads
    torch.testing.assert_close(y1, y0, rtol=0, atol=1e-5)
    before_bn = {"body_end.0.bias"} | {f"body.{i}.conv{j}.bias" for i in range(2) for j in (1, 2)}
    for k in g0:
        if k in before_bn:  # conv biases before BatchNorm: zero gradient up to rounding
            assert g0[k].abs().max() < 1e-3 and g1[k].abs().max() < 1e-3
            continue
        assert (g1[k] - g0[k]).abs().max().item() <= 1e-4 * g0[k].abs().max().item(), k
    assert "fused_tail" not in str(list(g.state_dict()))  # a compute path, not a parameter


def _batches(n: int, size: int = 32, scale: int = 4) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out = []
    for i in range(n):
        hr = (
            torch.from_numpy(natural_image(size, size, seed=i))
            .permute(2, 0, 1)
            .float()
            .div(255)[None]
            .repeat(2, 1, 1, 1)
        )
        lr = F.avg_pool2d(hr, scale)
        out.append((lr.contiguous(memory_format=torch.channels_last), hr.contiguous(memory_format=torch.channels_last)))
    return out


def _train(stage_name: str, amp: str, fused: bool, g0: Generator, d0: Discriminator | None, batches) -> tuple:
    cfg = load_config(raw={"stage": stage_name, "amp": amp, "fused_tail": fused, "data": {"train": ["x"]},
                           "model": {"num_blocks": 2, "channels": 16}, "optim": {"lr": 1e-3},
                           "loss": [{"type": "pixel", "norm": "l1"}]
                           + ([{"type": "adversarial", "weight": 1e-2}] if d0 is not None else [])})  # fmt: skip
    g = copy.deepcopy(g0)
    g.fused_tail = fused
    dev = torch.device("cpu")
    stage = SRGANStage(g, copy.deepcopy(d0), cfg, dev) if d0 is not None else SRResNetStage(g, cfg, dev)
    losses = [float(stage.train_step(lr, hr)["loss_g"]) for lr, hr in batches]
    g.eval()
    with torch.no_grad():
        out = g(batches[0][0])
    return losses, out


@pytest.mark.parametrize("stage_name", ["srresnet", "srgan"])
def test_faster_modes_match_fp32_after_a_few_steps(stage_name):
    """fused: fp32 rounding only (1e-4; 1e-3 in the SRGAN stage, where D's updates amplify it);
    bf16 autocast: 8-bit mantissas, so losses within 3% and
    the trained network's output within 2/255 on average of fp32's after 4 steps at lr 1e-3."""
    torch.manual_seed(0)
    g0 = Generator(4, num_blocks=2, channels=16).to(memory_format=torch.channels_last)
    d0 = Discriminator(base_channels=8).to(memory_format=torch.channels_last) if stage_name == "srgan" else None
    batches = _batches(4)
    ref_losses, ref = _train(stage_name, "none", False, g0, d0, batches)
    exact = 1e-4 if stage_name == "srresnet" else 1e-3
    for amp, fused, loss_tol, out_tol in (("none", True, exact, exact), ("bf16", False, 0.03, 2 / 255),
                                          ("bf16", True, 0.03, 2 / 255)):  # fmt: skip
        torch.manual_seed(1)  # the SRGAN stage draws D's crop offsets
        losses, out = _train(stage_name, amp, fused, g0, d0, batches)
        for a, b in zip(losses, ref_losses):
            assert a == pytest.approx(b, rel=loss_tol), (amp, fused, losses, ref_losses)
        assert (out - ref).abs().mean().item() <= out_tol, (amp, fused)
        assert out.dtype == torch.float32


def test_precision_label_names_what_ran():
    cfg = load_config(raw={"data": {"train": ["x"]}})
    assert precision_label(cfg) == "fp32+fused-tail"
    cfg = load_config(raw={"data": {"train": ["x"]}, "amp": "bf16", "fused_tail": False})
    assert precision_label(cfg) == "bf16"
    cfg = load_config(raw={"data": {"train": ["x"]}, "amp": "bf16", "model": {"arch": "srvgg"}})
    assert precision_label(cfg) == "bf16"


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_prelu_cpu_backward_matches_pytorch(dtype):
    from srgan.models.activations import PReLU

    torch.manual_seed(0)
    ours, ref = PReLU(), torch.nn.PReLU()
    ours.weight.data.fill_(-0.3)  # a negative slope too
    ref.weight.data.fill_(-0.3)
    x0 = torch.randn(4, 8, 9, 7).to(dtype)
    g = torch.randn(4, 8, 9, 7).to(dtype)
    outs = []
    for m in (ours, ref):
        x = x0.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):  # as in training
            y = m(x)
        y.backward(g)
        outs.append((y, x.grad, m.weight.grad))
    (y1, gx1, gw1), (y0, gx0, gw0) = outs
    if dtype == torch.float32:
        assert torch.equal(y1, y0) and torch.equal(gx1, gx0)
    else:  # PyTorch rounds the slope to bf16 first, we multiply by the float32 slope: within an ulp
        torch.testing.assert_close(y1, y0, rtol=1 / 128, atol=0)
        torch.testing.assert_close(gx1, gx0, rtol=1 / 128, atol=0)
    exact = (g.double() * x0.double().clamp(max=0)).sum()
    # the slope gradient is reduced in float32: as close to the exact sum as PyTorch's, or closer
    assert abs(gw1.double().item() - exact.item()) <= abs(gw0.double().item() - exact.item()) + 1e-3
    assert ours.state_dict().keys() == ref.state_dict().keys()


def test_fixed_slope_relu_is_prelu_in_place():
    from srgan.models.fast import FixedSlopeReLU

    p = torch.nn.PReLU()
    p.weight.data.fill_(-0.2)
    f = FixedSlopeReLU(p)
    x = torch.randn(2, 3, 5, 5)
    want = p(x).detach()
    with torch.no_grad():
        y = f(x)
    assert y.data_ptr() == x.data_ptr() and torch.equal(y, want)  # in place, same values
    with pytest.raises(ValueError):
        FixedSlopeReLU(torch.nn.PReLU(3))


def test_tune_allocator_opt_out(monkeypatch):
    from srgan import hardware

    hardware.tune_allocator.cache_clear()
    monkeypatch.setenv("SRGAN_MALLOC", "system")
    assert hardware.tune_allocator() is False
    hardware.tune_allocator.cache_clear()
    monkeypatch.delenv("SRGAN_MALLOC")
    import platform
    import sys

    want = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert hardware.tune_allocator() is want


def test_batches_in_process_are_the_loaders_with_the_step_threads_restored():
    from srgan.train.trainer import batches_in_process

    seen = []

    class Loader:
        def __iter__(self):
            for i in range(3):
                seen.append(torch.get_num_threads())  # threads while a batch is made
                yield i

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        out = []
        for b in batches_in_process(Loader()):
            out.append((b, torch.get_num_threads()))  # threads while the step runs
    finally:
        torch.set_num_threads(before)
    assert out == [(0, 2), (1, 2), (2, 2)] and seen == [1, 1, 1]
