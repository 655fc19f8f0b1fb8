import copy

import numpy as np
import pytest
import torch

from srgan.imresize import imresize
from srgan.losses import (
    VGG19_URL,
    VGGLoss,
    VGGWeightsError,
    adversarial_g_loss,
    block_loss,
    block_profile,
    chroma_loss,
    discriminator_loss,
    feature_matching_loss,
    lattice_loss,
    load_vgg19_weights,
    shift_equivariance_loss,
    window_lr,
)
from srgan.models import Discriminator, Generator, VGG19Features
from srgan.models.vgg import layer_index
from srgan.train import ConfigError, load_config
from srgan.train.stages import SRGANStage, SRResNetStage


def _cfg(**loss):
    return load_config(
        raw={
            "stage": "srgan",
            "data": {"train": ["x"], "crop": 16},
            "model": {"scale": 2, "num_blocks": 1, "channels": 8},
            "optim": {"lr": 1e-3},
            "loss": {"pixel": "mse", **loss},
        }
    )


def test_vgg_layer_indices_match_spec_and_paper():
    # the spec's features[:34] keeps indices 0..33: the last one is relu5_3
    assert layer_index("relu5_3") == 33
    # the paper's phi_5,4 (4th conv of block 5, after activation) is features[:36]
    assert layer_index("relu5_4") == 35 and layer_index("conv5_4") == 34
    assert layer_index("relu2_2") == 8
    assert len(VGG19Features("relu5_3").features) == 34
    assert isinstance(VGG19Features("relu5_4").features[-1], torch.nn.ReLU)
    assert sum(p.numel() for p in VGG19Features("relu5_4").parameters()) == 20_024_384  # torchvision vgg19.features


def test_vgg_weights_from_local_file_and_error(tmp_path, monkeypatch):
    torch.manual_seed(0)
    full = VGG19Features("relu5_4")
    sd = {k: v for k, v in full.state_dict().items()}
    sd["classifier.0.weight"] = torch.zeros(2, 2)  # torchvision files also hold the classifier
    path = tmp_path / "vgg19-test.pth"
    torch.save(sd, path)
    weights = load_vgg19_weights(path)
    loss = VGGLoss("relu2_2", weights, rescale=1 / 12.75)
    assert torch.equal(loss.vgg.features[0].weight, full.features[0].weight)
    assert all(not p.requires_grad for p in loss.vgg.parameters())
    x = torch.rand(1, 3, 24, 24)
    assert loss(x, x).item() == 0.0
    assert loss(x, x.flip(-1)).item() > 0

    calls = {}

    def fake_download(url, **kw):
        calls["url"] = url
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    with pytest.raises(VGGWeightsError, match="--vgg-weights") as exc:
        load_vgg19_weights(None)
    assert calls["url"] == VGG19_URL and VGG19_URL in str(exc.value)
    with pytest.raises(VGGWeightsError, match="no such file"):
        load_vgg19_weights(tmp_path / "missing.pth")


def test_losses_are_stable_bce_on_logits():
    big = torch.tensor([80.0, -80.0])
    assert torch.isfinite(adversarial_g_loss(big)) and torch.isfinite(discriminator_loss(big, big))
    assert adversarial_g_loss(torch.tensor([-80.0])).item() == pytest.approx(80.0, rel=1e-4)  # -log sigmoid(-80)
    assert discriminator_loss(torch.tensor([50.0]), torch.tensor([-50.0])).item() < 1e-6


def test_gan_steps_move_d_and_g_the_right_way():
    torch.manual_seed(0)
    cfg = _cfg(pixel_weight=1e-6, adversarial_weight=1.0)
    g, d = Generator(2, 1, 8), Discriminator()
    stage = SRGANStage(g, d, cfg, torch.device("cpu"))
    lr, hr = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 16, 16)

    def d_loss():
        with torch.no_grad():
            return discriminator_loss(d(hr), d(g(lr))).item()

    def adv():
        with torch.no_grad():
            return adversarial_g_loss(d(g(lr))).item()

    before = d_loss()
    for _ in range(5):
        stage.d_step(g(lr).detach(), hr)
    assert d_loss() < before
    d_params = [p.clone() for p in d.parameters()]
    before = adv()
    for _ in range(5):
        stage.g_step(g(lr), hr)
    assert adv() < before
    assert all(torch.equal(a, b) for a, b in zip(d_params, d.parameters())), "the G step must not update D"
    out = stage.train_step(lr, hr)
    assert {"loss_g", "loss_d", "loss_adv", "d_real", "d_fake", "loss_pixel"} <= set(out)
    assert 0 <= out["d_real"].item() <= 1 and 0 <= out["d_fake"].item() <= 1


@pytest.mark.parametrize("features", [False, True], ids=["adversarial", "feature-matching"])
def test_g_first_order_is_g_against_d_then_d_on_the_same_fake_pass(features):
    """gan_order g_first: G's Adam step uses the gradients of its loss against D as it was, D's step
    the gradients of its loss on D(x) and D(G(z)) of the same G, as two separate updates would."""
    torch.manual_seed(0)
    loss = {"pixel_weight": 1.0, "adversarial_weight": 0.5, **({"feature_matching_weight": 0.2} if features else {})}
    cfg = _cfg(**loss)
    cfg.gan_order = "g_first"
    g, d = Generator(2, 1, 8), Discriminator()
    g0, d0 = copy.deepcopy(g), copy.deepcopy(d)
    stage = SRGANStage(g, d, cfg, torch.device("cpu"))
    lr, hr = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 16, 16)
    stage.train_step(lr, hr)

    # the reference: each network's gradients taken alone, at the state before the step
    sr = g0(lr)
    real, real_f = d0(hr, features=True)
    fake, fake_f = d0(sr, features=True)
    loss_g = torch.nn.functional.mse_loss(sr, hr) + 0.5 * adversarial_g_loss(fake)
    if features:
        loss_g = loss_g + 0.2 * feature_matching_loss(fake_f, [f.detach() for f in real_f])
    grads_g = torch.autograd.grad(loss_g, list(g0.parameters()))
    grads_d = torch.autograd.grad(discriminator_loss(real, d0(sr.detach())), list(d0.parameters()))
    for net, grads in ((g0, grads_g), (d0, grads_d)):
        opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.99))
        for p, gr in zip(net.parameters(), grads):
            p.grad = gr
        opt.step()
    for a, b in zip([*g.parameters(), *d.parameters()], [*g0.parameters(), *d0.parameters()]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)

    # d_first (the default) trains G against the D it has just updated: from the same start, another G
    cfg.gan_order = "d_first"
    torch.manual_seed(0)
    g2, d2 = Generator(2, 1, 8), Discriminator()
    SRGANStage(g2, d2, cfg, torch.device("cpu")).train_step(lr, hr)
    diff = max((a - b).abs().max().item() for a, b in zip(g2.parameters(), g.parameters()))
    assert diff > 1e-5


@pytest.mark.parametrize("order", ["d_first", "g_first"])
def test_r1_penalty_enters_ds_step_only(order):
    """d_r1: D's step descends on BCE + gamma/2 * mean ||grad_x D(x)||^2 at the real crops (R1); with
    g_first, G's step (taken before D's) is the same as without it."""
    cfg = _cfg(pixel_weight=1.0, adversarial_weight=0.5)
    cfg.gan_order, cfg.d_r1 = order, 4.0
    torch.manual_seed(0)
    g, d = Generator(2, 1, 8), Discriminator()
    g0, d0 = copy.deepcopy(g), copy.deepcopy(d)
    lr, hr = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 16, 16)
    out = SRGANStage(g, d, cfg, torch.device("cpu")).train_step(lr, hr)

    x = hr.clone().requires_grad_(True)
    real = d0(x)
    (gx,) = torch.autograd.grad(real.sum(), x, create_graph=True)
    r1 = gx.pow(2).flatten(1).sum(1).mean()
    torch.testing.assert_close(out["d_r1"], r1.detach(), rtol=1e-4, atol=1e-6)
    assert r1.item() > 0
    loss_d = discriminator_loss(real, d0(g0(lr).detach())) + 2.0 * r1
    opt = torch.optim.Adam(d0.parameters(), lr=1e-3, betas=(0.9, 0.99))
    for p, gr in zip(d0.parameters(), torch.autograd.grad(loss_d, list(d0.parameters()))):
        p.grad = gr
    opt.step()
    for a, b in zip(d.parameters(), d0.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)

    # the same run without R1: D ends elsewhere; with g_first, G does not
    cfg.d_r1 = 0.0
    torch.manual_seed(0)
    g2, d2 = Generator(2, 1, 8), Discriminator()
    out2 = SRGANStage(g2, d2, cfg, torch.device("cpu")).train_step(lr, hr)
    assert "d_r1" not in out2
    assert max((a - b).abs().max().item() for a, b in zip(d2.parameters(), d.parameters())) > 1e-5
    g_diff = max((a - b).abs().max().item() for a, b in zip(g2.parameters(), g.parameters()))
    assert (g_diff == 0) if order == "g_first" else (g_diff > 1e-5)


def test_r1_penalty_takes_a_patch_discriminators_logits_per_image():
    """A patch D's cells enter R1 as their per-image mean (as its BCE averages them): a D whose k
    cells all equal the whole-image logit has the whole-image D's penalty, not k^2 times it; and
    the patch head on the paper's D gives a penalty of the same order as the pooled head."""
    from srgan.losses.functional import r1_penalty

    x = torch.rand(3, 3, 8, 8, requires_grad=True)
    w = torch.randn(3, 8, 8)
    per_image = (x * w).flatten(1).sum(1)  # one logit per image
    ref = r1_penalty(per_image, x)
    torch.testing.assert_close(ref, (w**2).sum() * torch.ones(()), rtol=1e-5, atol=1e-5)
    cells = per_image[:, None].expand(3, 25).reshape(-1)  # 25 identical cells per image, image-major
    torch.testing.assert_close(r1_penalty(cells, x), ref)

    torch.manual_seed(0)
    hr = torch.rand(2, 3, 64, 64, requires_grad=True)
    pooled, patch = Discriminator(), Discriminator(patch=True)
    patch.load_state_dict(pooled.state_dict())
    r_pooled, r_patch = r1_penalty(pooled(hr), hr), r1_penalty(patch(hr), hr)
    assert patch(hr).shape == (2 * 16,) and 0.1 < (r_patch / r_pooled).item() < 10, (r_patch, r_pooled)


def test_r1_weight_is_validated():
    with pytest.raises(ConfigError, match="d_r1"):
        load_config(raw={"stage": "srgan", "d_r1": -1, "data": {"train": ["x"]}})


def test_gan_order_is_validated():
    with pytest.raises(ConfigError, match="gan_order"):
        load_config(raw={"stage": "srgan", "gan_order": "both", "data": {"train": ["x"]}})


def test_discriminator_features_and_feature_matching_loss():
    torch.manual_seed(0)
    d = Discriminator()
    x = torch.rand(2, 3, 32, 32)
    logits, feats = d(x, features=True)
    assert torch.allclose(logits, d(x)), "features=True must not change the logits"
    assert [f.shape[1] for f in feats] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [f.shape[-1] for f in feats] == [32, 16, 16, 8, 8, 4, 4, 2]
    assert feature_matching_loss(feats, feats).item() == 0.0
    y = x + 0.1 * torch.randn_like(x)
    assert feature_matching_loss(d(y, features=True)[1], feats).item() > 0


def test_feature_matching_pulls_g_towards_hr_features_and_leaves_d_alone():
    torch.manual_seed(0)
    cfg = _cfg(pixel_weight=0.0, adversarial_weight=0.0, feature_matching_weight=1.0)
    g, d = Generator(2, 1, 8), Discriminator()
    stage = SRGANStage(g, d, cfg, torch.device("cpu"))
    lr, hr = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 16, 16)

    def fm():
        with torch.no_grad():
            return feature_matching_loss(d(g(lr), features=True)[1], d(hr, features=True)[1]).item()

    d.eval()  # fixed BatchNorm statistics, so that only G moves the loss
    d_params = [p.clone() for p in d.parameters()]
    before = fm()
    for _ in range(5):
        out = stage.g_step(g(lr), hr)
    assert fm() < before
    assert "loss_fm" in out and out["loss_fm"].item() > 0
    assert all(torch.equal(a, b) for a, b in zip(d_params, d.parameters())), "the G step must not update D"
    d.train()
    out = stage.train_step(lr, hr)  # targets come from the D step's forward of HR
    assert {"loss_fm", "loss_d"} <= set(out) and "loss_adv" not in out, "a weight-0 term is not computed"


def test_feature_matching_needs_an_srgan_stage():
    with pytest.raises(ConfigError, match="fm needs the discriminator"):
        load_config(raw={"stage": "srresnet", "loss": [{"type": "pixel"}, {"type": "feature_matching"}]})
    cfg = load_config(raw={"stage": "srgan", "loss": [{"type": "feature_matching", "weight": 1.0}]})
    assert cfg.loss == [{"type": "feature_matching", "weight": 1.0}]
    with pytest.raises(ConfigError, match="needs a content term"):
        load_config(raw={"stage": "srgan", "loss": [{"type": "adversarial"}]})


def test_random_shift_crops_pairs_alike_and_is_validated():
    torch.manual_seed(0)
    cfg = load_config(
        raw={
            "stage": "srgan",
            "d_random_shift": 3,
            "data": {"train": ["x"], "crop": 16},
            "model": {"scale": 2, "num_blocks": 1, "channels": 8},
            "loss": {"pixel_weight": 1.0, "feature_matching_weight": 1.0},
        }
    )
    stage = SRGANStage(Generator(2, 1, 8), Discriminator(), cfg, torch.device("cpu"))
    hr = torch.rand(6, 3, 16, 16)
    offsets = stage._draw_offsets(6)
    a = stage._crop(hr, offsets)
    assert a.shape == (6, 3, 13, 13)
    assert torch.equal(a[2], hr[2, :, offsets[2][0] : offsets[2][0] + 13, offsets[2][1] : offsets[2][1] + 13])
    drawn = {tuple(o) for _ in range(6) for o in stage._draw_offsets(6)}
    assert len(drawn) > 4 and all(0 <= y <= 3 and 0 <= x <= 3 for y, x in drawn)
    out = stage.train_step(torch.rand(6, 3, 8, 8), hr)  # FM pairs stay aligned: identical images give 0
    assert torch.isfinite(out["loss_fm"])
    for group in stage.optimizers["d"].param_groups:
        group["lr"] = 0.0  # keep D fixed between the two passes
    stage.d_step(hr, hr)
    assert stage.g_step(hr.clone().requires_grad_(), hr)["loss_fm"].item() < 1e-6
    with pytest.raises(ConfigError, match="d_random_shift"):
        load_config(raw={"stage": "srgan", "d_random_shift": 8, "data": {"train": ["x"], "crop": 16}})


def test_lattice_loss_sees_a_grid_and_not_noise_or_offsets():
    torch.manual_seed(0)
    hr = torch.rand(8, 3, 48, 48)
    noisy = hr + 0.02 * torch.randn_like(hr)
    grid = torch.zeros(4, 4)
    grid[0::2, 0::2] = 0.01  # a faint checkerboard, 2.5 levels of 255
    gridded = noisy + grid.repeat(12, 12)
    assert lattice_loss(noisy, hr, 4).item() < 1e-3
    assert lattice_loss(gridded, hr, 4).item() > 4 * lattice_loss(noisy, hr, 4).item()
    assert lattice_loss(hr + 0.1, hr, 4).item() < 1e-5, "a uniform offset is not a lattice"
    assert lattice_loss(gridded[..., :47, :46], hr[..., :47, :46], 4) > 0  # sizes not multiples of the period


def test_windowed_lattice_loss_sees_a_grid_whose_sign_follows_the_content():
    torch.manual_seed(0)
    hr = torch.rand(4, 3, 64, 64)
    noisy = hr + 0.02 * torch.randn_like(hr)
    grid = torch.zeros(4, 4)
    grid[:, 0] = 0.02  # a ladder: one column in four brighter
    sign = torch.ones(64, 64)
    sign[:, 32:] = -1  # flips half-way across each image, as along the two sides of an edge
    flipping = noisy + grid.repeat(16, 16) * sign
    assert lattice_loss(flipping, hr, 4).item() < 2 * lattice_loss(noisy, hr, 4).item(), "the batch mean cancels it"
    local, clean = lattice_loss(flipping, hr, 4, window=16).item(), lattice_loss(noisy, hr, 4, window=16).item()
    assert local > 2 * clean, (local, clean)
    assert lattice_loss(hr + 0.1, hr, 4, window=16).item() < 1e-5, "a uniform offset is not a lattice"
    assert (
        lattice_loss(flipping[..., :63, :50], hr[..., :63, :50], 4, window=16) > 0
    )  # sizes not multiples of the window
    with pytest.raises(ValueError, match="multiple of the period"):
        lattice_loss(flipping, hr, 4, window=6)
    with pytest.raises(ValueError, match="fit in the"):
        lattice_loss(flipping[..., :12, :12], hr[..., :12, :12], 4, window=16)
    for window in (6, -4):
        with pytest.raises(ConfigError, match=r"loss\[1\] \(lattice\): window must be"):
            load_config(
                raw={
                    "stage": "srgan",
                    "loss": [{"type": "pixel"}, {"type": "lattice", "window": window}],
                    "data": {"crop": 96},
                }
            )


def test_block_loss_sees_strokes_on_block_boundaries_of_either_sign():
    torch.manual_seed(0)
    hr = torch.rand(4, 3, 64, 64)
    noisy = hr + 0.02 * torch.randn_like(hr)
    # a mesh: every 4th column steps up or down by a random amount (sign varies block to block)
    steps = 0.1 * torch.randn(4, 1, 16, 16).repeat_interleave(4, 2).repeat_interleave(4, 3)
    meshed = noisy + steps
    assert lattice_loss(meshed, hr, 4).item() < 2 * lattice_loss(noisy, hr, 4).item(), "the signed pattern averages out"
    assert block_loss(meshed, hr, 4).item() > 10 * block_loss(noisy, hr, 4).item()
    assert block_loss(hr, hr, 4).item() < 1e-5
    assert block_loss(meshed, meshed, 4).item() < 1e-5, "an HR with the same blocks is matched, not penalised"
    prof = block_profile(meshed, 4)
    assert prof.shape == (4, 8)
    assert (prof[:, 3] > prof[:, :3].max(1).values + 0.02).all() and (
        prof[:, 7] > prof[:, 4:7].max(1).values + 0.02
    ).all()  # the boundary phases
    assert torch.allclose(prof[:, :4].mean(1), torch.ones(4)) and torch.allclose(prof[:, 4:].mean(1), torch.ones(4))
    meshed.requires_grad_(True)
    block_loss(meshed, hr, 4).backward()
    assert torch.isfinite(meshed.grad).all() and meshed.grad.abs().sum() > 0


def _smooth_image(n: int, size: int, seed: int) -> torch.Tensor:
    """Band-limited random images (bicubic x8 of noise): detail that moves with a shift."""
    rng = torch.Generator().manual_seed(seed)
    return torch.nn.functional.interpolate(
        torch.rand(n, 3, size // 8, size // 8, generator=rng), size=(size, size), mode="bicubic", align_corners=False
    ).clamp(0, 1)


def test_window_lr_is_the_training_lr_of_a_real_window():
    hr = (_smooth_image(1, 100, 0)[0].permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    t = torch.from_numpy(hr).permute(2, 0, 1)[None].float() / 255
    lr = window_lr(t.repeat(3, 1, 1, 1), [(0, 0), (4, 4), (1, 3)], 4)
    assert lr.shape == (3, 3, 24, 24)
    for i, (dy, dx) in enumerate([(0, 0), (4, 4), (1, 3)]):
        as_trained = (
            torch.from_numpy(imresize(np.ascontiguousarray(hr[dy : dy + 96, dx : dx + 96]), 0.25))
            .permute(2, 0, 1)
            .float()
            / 255
        )
        # within two 8-bit levels: the dataset rounds after each 1-D pass, as MATLAB does; window_lr once
        assert (lr[i] - as_trained).abs().max().item() <= 2.01 / 255, (
            "the dataset's uint8 MATLAB bicubic of that window"
        )
    # a window one LR pixel further is the LR moved by one pixel, away from the imresize border
    assert (lr[1, :, 2:21, 2:21] - lr[0, :, 3:22, 3:22]).abs().max().item() <= 1.01 / 255
    with pytest.raises(ValueError, match="offsets for a batch"):
        window_lr(t, [(1, 1), (2, 2)], 4)
    with pytest.raises(ValueError, match="must lie in"):
        window_lr(t, [(5, 0)], 4)


def test_shift_equivariance_loss_is_zero_for_content_and_sees_a_lattice_pattern():
    big = _smooth_image(4, 68, 1)
    shifts = [(1, 2), (3, 0), (2, 2), (0, 1)]

    def window(x, offsets):
        return torch.stack([x[i, :, dy : dy + 64, dx : dx + 64] for i, (dy, dx) in enumerate(offsets)])

    hr, moved = window(big, [(0, 0)] * 4), window(big, shifts)
    assert shift_equivariance_loss(hr, moved, shifts).item() < 1e-7, (
        "output that follows the content costs nothing, borders included"
    )
    ladder = torch.zeros(4, 4)
    ladder[:, 0] = 0.04  # one column in four brighter, tied to the output lattice like a PixelShuffle grid
    tied = ladder.repeat(16, 16)
    loss = shift_equivariance_loss(hr + tied, moved + tied, shifts).item()
    assert abs(loss - 0.04 * 2 * 3 / 16) < 2e-3, (
        "columns 1 px apart differ at 2 of 4 columns, for the 3 shifts with dx != 0"
    )
    assert shift_equivariance_loss(hr + tied, window(big, [(4, 0)] * 4) + tied, [(4, 0)] * 4).item() < 1e-7, (
        "a whole LR pixel keeps the lattice"
    )
    edge = hr.clone()
    edge[:, :, :, -4:] += 0.04  # a band at the right border of the unmoved output
    assert abs(shift_equivariance_loss(edge, moved, shifts).item() - 0.04 * 4 / 62) < 1e-3, "the border is compared too"
    assert shift_equivariance_loss(edge, moved, shifts, margin=4).item() < 1e-7, "unless a margin leaves it out"
    with pytest.raises(ValueError, match="leaves nothing"):
        shift_equivariance_loss(hr, moved, shifts, margin=31)
    sq = shift_equivariance_loss(hr + tied, moved + tied, shifts, norm="mse").item()
    assert abs(sq - 0.04**2 * 2 * 3 / 16) < 1e-4, "squared: the same columns, each costing 0.04^2"
    with pytest.raises(ValueError, match="norm must be"):
        shift_equivariance_loss(hr, moved, shifts, norm="l2")


def test_shift_weight_trains_unmoved_and_moved_windows_in_one_batch():
    torch.manual_seed(0)
    cfg = load_config(
        raw={
            "stage": "srgan",
            "data": {"crop": 32, "batch_size": 4},
            "model": {"scale": 2, "num_blocks": 1, "channels": 8},
            "loss": [
                {"type": "pixel", "norm": "l1"},
                {"type": "shift", "weight": 1.0, "samples": 3},
                {"type": "adversarial", "weight": 1e-3},
            ],
        }
    )
    g = Generator(2, 1, 8)
    shapes = []
    g.register_forward_hook(lambda m, i, o: shapes.append(tuple(i[0].shape)))
    stage = SRGANStage(g, Discriminator(), cfg, torch.device("cpu"))
    hr = _smooth_image(4, 32, 2)
    lr = (
        torch.from_numpy(
            np.stack([imresize(x, 0.5) for x in (hr.permute(0, 2, 3, 1).numpy() * 255).round().astype("uint8")])
        )
        .permute(0, 3, 1, 2)
        .float()
        / 255
    )
    out = stage.train_step(lr, hr)
    assert shapes == [(4, 3, 16, 16), (6, 3, 15, 15)], (
        "the crops, then 3 unmoved and 3 moved windows in one batch (one set of BatchNorm statistics)"
    )
    assert torch.isfinite(out["loss_shift"]) and out["loss_shift"].item() > 0
    assert out["loss_g"].item() > out["loss_pixel"].item() + out["loss_shift"].item()
    mse_cfg = load_config(
        raw={
            "stage": "srresnet",
            "data": {"crop": 32, "batch_size": 4},
            "model": {"scale": 2, "num_blocks": 1, "channels": 8},
            "loss": {"pixel": "l1", "shift_weight": 2.0},
        }
    )  # a flat loss section from before the registry still loads
    mse_out = SRResNetStage(Generator(2, 1, 8), mse_cfg, torch.device("cpu")).train_step(lr, hr)
    assert mse_out["loss_g"].item() == pytest.approx(
        mse_out["loss_pixel"].item() + 2.0 * mse_out["loss_shift"].item(), rel=1e-5
    ), "the SRResNet stage adds it too"
    for bad, msg in (
        ({"samples": 5}, "samples must be"),
        ({"margin": 15}, "margin must be"),
        ({"weight": -1}, "weight must be >= 0"),
        ({"norm": "l2"}, "norm must be"),
        ({"samples": 1.5}, r"shift\)\.samples: expected int"),
        ({"sample": 2}, "unknown parameter 'sample' \\(did you mean 'samples'"),
    ):
        with pytest.raises(ConfigError, match=msg):
            load_config(
                raw={
                    "stage": "srgan",
                    "data": {"crop": 32, "batch_size": 4},
                    "model": {"scale": 2},
                    "loss": [{"type": "pixel"}, {"type": "shift", **bad}],
                }
            )


def test_chroma_loss_ignores_grey_changes_and_weighs_colour_in_the_content_loss():
    torch.manual_seed(0)
    hr = torch.rand(2, 3, 16, 16)
    assert chroma_loss(hr + 0.1, hr).item() < 1e-6, "a grey (R = G = B) change keeps Cb and Cr"
    blue = hr.clone()
    blue[:, 2] += 0.1  # Cb moves by 0.5 * 0.1, Cr by -0.081312 * 0.1
    assert chroma_loss(blue, hr).item() == pytest.approx((0.05 + 0.0081312) / 2, rel=1e-4)
    with pytest.raises(ValueError, match="RGB"):
        chroma_loss(hr[:, :1], hr[:, :1])
    cfg = load_config(
        raw={
            "stage": "srresnet",
            "data": {"train": ["x"], "crop": 16, "batch_size": 2},
            "model": {"scale": 2, "num_blocks": 1, "channels": 8},
            "loss": {"pixel": "l1", "chroma_weight": 3.0},
        }
    )
    out = SRResNetStage(Generator(2, 1, 8), cfg, torch.device("cpu")).train_step(torch.rand(2, 3, 8, 8), hr)
    assert out["loss_chroma"].item() > 0
    assert out["loss_g"].item() == pytest.approx(out["loss_pixel"].item() + 3.0 * out["loss_chroma"].item(), rel=1e-5)
    with pytest.raises(ConfigError, match="loss"):
        load_config(raw={"stage": "srresnet", "data": {"train": ["x"]}, "loss": {"chroma_weight": -1}})


def test_relativistic_loss_matches_esrgan_equations():
    """ESRGAN Eq. 1-2 written out: D_Ra(a, b) = sigmoid(C(a) - mean C(b))."""
    from srgan.losses.functional import relativistic_losses

    real, fake = torch.tensor([2.0, 0.5, 1.0]), torch.tensor([-1.0, 0.0, 0.3])
    d_rf = torch.sigmoid(real - fake.mean())
    d_fr = torch.sigmoid(fake - real.mean())
    want_d = 0.5 * (-torch.log(d_rf).mean() - torch.log(1 - d_fr).mean())
    want_g = 0.5 * (-torch.log(1 - d_rf).mean() - torch.log(d_fr).mean())
    loss_d, loss_g = relativistic_losses(real, fake)
    assert loss_d.item() == pytest.approx(want_d.item(), rel=1e-6)
    assert loss_g.item() == pytest.approx(want_g.item(), rel=1e-6)
    # G gains from fakes that look more real than the average real: loss_g falls as fake rises
    assert relativistic_losses(real, fake + 1)[1] < loss_g


def test_unet_discriminator_and_relativistic_loss_train_through_the_registries(tmp_path):
    """A recipe picks Real-ESRGAN's U-Net discriminator and ESRGAN's loss by name; two SRGAN steps run."""
    from conftest import natural_image
    from PIL import Image

    from srgan.models.registry import build_discriminator
    from srgan.train import Trainer, load_config

    d = build_discriminator("unet", base_channels=8)
    assert sum(p.numel() for p in build_discriminator("unet").parameters()) == 4_376_897  # Real-ESRGAN's size
    logits, feats = d(torch.rand(2, 3, 44, 36), features=True)  # not a multiple of 8: padded inside
    assert logits.shape == (2, 1, 44, 36) and len(feats) == 9
    assert any("weight_orig" in k for k in d.state_dict())  # spectral norm
    data = tmp_path / "hr"
    data.mkdir()
    for i in range(2):
        Image.fromarray(natural_image(48, 48, seed=i)).save(data / f"{i}.png")
    cfg = load_config(raw={"stage": "srgan", "out_dir": str(tmp_path / "run"), "steps": 2, "tensorboard": False,
                           "d_random_shift": 3, "model": {"scale": 2, "num_blocks": 1, "channels": 8},
                           "discriminator": {"arch": "unet", "options": {"base_channels": 8}},
                           "data": {"train": [str(data)], "crop": 32, "batch_size": 2},
                           "loss": [{"type": "pixel", "norm": "l1"}, {"type": "feature_matching", "weight": 0.1},
                                    {"type": "relativistic", "weight": 0.01}]})  # fmt: skip
    Trainer(cfg).fit(progress=False)
    import csv

    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert rows and float(rows[-1]["loss_adv"]) > 0 and float(rows[-1]["loss_d"]) > 0


def test_patch_discriminator_judges_each_cell_with_the_papers_parameters():
    """discriminator options {patch: true}: the paper's layers and head, one logit per 16 px cell;
    a cell's logit depends on its own window only, and its weights load into the paper's D."""
    torch.manual_seed(0)
    d, p = Discriminator(), Discriminator(patch=True)
    p.load_state_dict(d.state_dict())
    d.eval(), p.eval()
    x = torch.rand(2, 3, 96, 128)
    logits, feats = p(x, features=True)
    assert logits.shape == (2 * 6 * 8,) and len(feats) == 8
    assert d(x).shape == (2,)
    y = x.clone()
    y[:, :, :, 96:] = torch.rand(2, 3, 96, 32)  # change the right quarter only
    changed = (p(y) - p(x)).abs().view(2, 6, 8) > 1e-6
    assert changed[:, :, -1].all() and not changed[:, :, :3].any()  # far cells do not see it
    cfg = _cfg(pixel_weight=1.0, adversarial_weight=0.5)
    cfg.d_r1 = 1.0
    out = SRGANStage(Generator(2, 1, 8), Discriminator(patch=True), cfg, torch.device("cpu")).train_step(
        torch.rand(2, 3, 16, 16), torch.rand(2, 3, 32, 32)
    )
    assert out["loss_d"] > 0 and out["d_r1"] > 0 and 0 < out["d_fake"] < 1


def test_pooled_pixel_term_sees_colour_not_texture_inside_the_block():
    """pixel with pool = scale: zero-mean texture inside each 4x4 block costs nothing, a colour
    offset costs its size; the label says what it compares."""
    from srgan.losses.registry import build_term
    from srgan.losses.terms import LossContext

    hr = torch.full((1, 3, 16, 16), 0.5)
    checker = (torch.arange(16)[:, None] + torch.arange(16)[None]) % 2 * 0.2 - 0.1  # zero mean per 4x4 block
    term = build_term({"type": "pixel", "norm": "l1", "pool": 4, "weight": 1.0})
    assert term.label() == "L1 pixel of 4x4 means"

    def loss(sr):
        return term(LossContext(sr, hr, 4, None)).item()

    assert loss(hr + checker) == pytest.approx(0, abs=1e-7)
    assert loss(hr + 0.02) == pytest.approx(0.02, rel=1e-5)
    assert build_term({"type": "pixel", "norm": "l1"})(LossContext(hr + checker, hr, 4, None)).item() > 0.09
    with pytest.raises(Exception, match="pool"):
        build_term({"type": "pixel", "pool": 0})


def test_usm_target_sharpens_edges_and_leaves_flat_areas():
    from srgan.losses.functional import usm_sharpen

    img = torch.full((1, 3, 64, 64), 0.3)
    img[..., 32:] = 0.7  # a vertical step
    img[..., :8, :8] += torch.randn(1, 3, 8, 8) * 0.005  # faint noise below the threshold
    out = usm_sharpen(img, 0.5)
    row = out[0, 0, 40]
    assert row[31] < 0.3 - 0.02 and row[32] > 0.7 + 0.02  # over/undershoot next to the edge: sharper
    assert torch.allclose(out[..., 40, :12], img[..., 40, :12], atol=1e-3)  # far from the edge: unchanged
    assert out.min() >= 0 and out.max() <= 1
    assert torch.allclose(usm_sharpen(img, 0.0), img, atol=1e-6)  # amount 0: the image itself


def test_texture_loss_sees_missing_and_wrong_texture_and_needs_no_weights():
    from srgan.losses.registry import build_term
    from srgan.losses.terms import LossContext
    from srgan.losses.texture import RandomFilterBank, local_gram

    g = torch.Generator().manual_seed(0)
    hr = (0.5 + 0.2 * torch.randn(2, 3, 64, 64, generator=g)).clamp(0, 1)  # a noisy texture
    blurred = torch.nn.functional.avg_pool2d(hr, 4).repeat_interleave(4, 2).repeat_interleave(4, 3)
    flat = torch.full_like(hr, 0.5)
    term = build_term({"type": "texture", "weight": 2.0, "window": 16})
    assert term.weight == 2.0 and term.name == "texture"

    def loss(x):
        return float(term(LossContext(x, hr, 4, None)))

    assert loss(hr) == 0.0
    assert loss(flat) > loss(blurred) > 0.01 * loss(flat), "less texture, larger loss"
    # zero-mean filters: a constant colour gives no response, so only texture counts
    assert float(RandomFilterBank()(flat)[0].abs().max()) < 1e-6
    # the same seed gives the same bank; local Grams keep texture where it is
    assert torch.equal(RandomFilterBank(seed=3).weight, RandomFilterBank(seed=3).weight)
    half = hr.clone()
    half[..., :32] = 0.5  # texture only on the right
    moved = hr.clone()
    moved[..., 32:] = 0.5  # the same amount of texture, on the left
    assert float(term(LossContext(moved, half, 4, None))) > 0.5 * loss(flat)
    assert local_gram(torch.ones(1, 2, 8, 8), 4).shape == (1, 4, 2, 2)
    x = blurred.clone().requires_grad_(True)
    term(LossContext(x, hr, 4, None)).backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="kernel odd"):
        build_term({"type": "texture", "kernel": 4})


def test_gabor_texture_bank_is_oriented_and_tells_strands_from_their_rotation():
    import math

    from srgan.losses.registry import build_term
    from srgan.losses.terms import LossContext
    from srgan.losses.texture import GaborFilterBank

    bank = GaborFilterBank()
    w = bank.weight.double()
    assert w.shape == (4 * 8 * 2, 3, 9, 9)
    gray = w.sum(1)  # the luma filter each one applies
    assert torch.allclose(gray.flatten(1).sum(1), torch.zeros(64, dtype=torch.float64), atol=1e-6)  # zero mean
    assert torch.allclose(gray.flatten(1).norm(dim=1), torch.ones(64, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(w[0::2], -w[1::2])  # both signs of every filter
    # thin vertical stripes (period 3 px) excite the filters across x far more than those across y
    x = torch.arange(64.0)
    stripes = (0.5 + 0.4 * torch.cos(2 * math.pi * x / 3)).expand(1, 3, 64, 64)
    resp = bank(stripes)[0][0, :, 8:-8, 8:-8].mean(dim=(1, 2))  # scale 1, interior
    across_x, across_y = resp[0:4].sum(), resp[16:20].sum()  # wavelength 3: orientation 0 and 90 degrees
    assert across_x > 20 * across_y
    # the loss: vertical strands against the same strands turned 90 degrees, against themselves
    term = build_term({"type": "texture", "bank": "gabor", "window": 16})
    assert term.label() == "Gabor texture (16 px tiles)"
    turned = stripes.transpose(2, 3).contiguous()
    assert float(term(LossContext(stripes, stripes, 4, None))) == 0.0
    assert float(term(LossContext(turned, stripes, 4, None))) > 0
    random_term = build_term({"type": "texture", "window": 16})
    assert random_term.label() == "random-filter texture (16 px tiles)"
    with pytest.raises(ValueError, match="bank must be"):
        build_term({"type": "texture", "bank": "vgg"})


def test_trained_feature_bank_is_a_frozen_copy_that_stays_in_eval_and_sees_lost_texture():
    from srgan.losses.registry import build_term
    from srgan.losses.terms import LossContext
    from srgan.losses.texture import TrainedFeatureBank
    from srgan.models.generator import Generator

    torch.manual_seed(0)
    g = Generator(scale=4, num_blocks=3)
    for m in g.modules():  # BatchNorm statistics that a training-mode forward would change
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    bank = TrainedFeatureBank(g, depth=2)
    assert len(bank.net) == 3 and bank.scales == (1, 2, 4)  # head + two blocks
    assert not any(p.requires_grad for p in bank.parameters())
    assert bank.net[0][0].weight.data_ptr() != g.head[0].weight.data_ptr()  # a copy
    bank.train()
    assert not bank.training and not bank.net[1].bn1.training
    before = bank.net[1].bn1.running_mean.clone()
    x = torch.rand(2, 3, 32, 32)
    feats = bank(x)
    assert [f.shape[-1] for f in feats] == [32, 16, 8] and feats[0].shape[1] == 64
    assert torch.equal(bank.net[1].bn1.running_mean, before)
    with pytest.raises(ValueError, match="depth must be"):
        TrainedFeatureBank(g, depth=4)
    # through the registry, from a packaged model: zero on HR, more for less texture, gradients reach SR
    term = build_term({"type": "texture", "bank": "trained", "source": "srresnet-x4", "depth": 1, "window": 16})
    assert term.label() == "srresnet-x4 head + 1 block texture (16 px tiles)"
    gen = torch.Generator().manual_seed(1)
    hr = (0.5 + 0.2 * torch.randn(2, 3, 64, 64, generator=gen)).clamp(0, 1)
    blurred = torch.nn.functional.avg_pool2d(hr, 4).repeat_interleave(4, 2).repeat_interleave(4, 3)
    flat = torch.full_like(hr, 0.5)
    assert float(term(LossContext(hr, hr, 4, None))) == 0.0
    assert float(term(LossContext(flat, hr, 4, None))) > float(term(LossContext(blurred, hr, 4, None))) > 0
    sr = blurred.clone().requires_grad_(True)
    term(LossContext(sr, hr, 4, None)).backward()
    assert sr.grad is not None and float(sr.grad.abs().sum()) > 0


def test_overshoot_loss_finds_a_drawn_halo_and_ignores_blur_and_texture_in_range():
    from srgan.artifacts import edge_overshoot
    from srgan.losses.functional import overshoot_loss

    hr = torch.full((1, 3, 32, 32), 0.2)
    hr[..., 16:] = 0.8  # a vertical step
    blurred = hr.clone()
    blurred[..., 15], blurred[..., 16] = 0.4, 0.6
    halo = hr.clone()
    halo[..., 14:16] = 0.1  # a dark double line beside the edge, below the dark side
    halo[..., 16:18] = 0.9  # and a bright rim on the bright side
    textured = hr.clone()  # strong detail beside the edge, within the range of both its sides
    textured[..., 13:20] = 0.5 + 0.25 * torch.sign(torch.randn(1, 1, 32, 7, generator=torch.Generator().manual_seed(0)))
    assert float(overshoot_loss(hr, hr)) == 0.0
    assert float(overshoot_loss(blurred, hr)) == 0.0, "a soft edge stays in HR's range"
    # 4 of 32 columns leave the range by 0.1: a mean of 0.1 * 4 / 32
    assert float(overshoot_loss(halo, hr)) == pytest.approx(0.1 * 4 / 32, rel=1e-4)
    # the measure on 8-bit images agrees that the halo is there and the blur is not
    to8 = lambda t: (t[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # noqa: E731
    assert edge_overshoot(to8(halo), to8(hr)) > 10 and edge_overshoot(to8(blurred), to8(hr)) == 0
    assert float(overshoot_loss(textured, hr)) == 0.0, "detail inside HR's local range is free"
    x = halo.clone().requires_grad_(True)
    overshoot_loss(x, hr).backward()
    assert float(x.grad[..., :14].abs().sum()) == 0 and float(x.grad[..., 14:18].abs().sum()) > 0


def test_ringing_loss_sees_a_line_inside_the_range_and_agrees_with_the_measure():
    from srgan.artifacts import edge_overshoot, edge_ringing
    from srgan.losses.functional import overshoot_loss, ringing_loss

    hr = torch.full((1, 3, 32, 40), 0.2)
    hr[..., 20:] = 0.8  # a vertical step
    blurred = hr.clone()
    blurred[..., 19], blurred[..., 20] = 0.4, 0.6
    double = hr.clone()
    double[..., 18] = 0.5  # a pale line beside the edge, between its two sides
    far = hr.clone()
    far[..., 4:8] = 0.2 + 0.1 * torch.sign(torch.randn(1, 1, 32, 4, generator=torch.Generator().manual_seed(0)))
    assert float(ringing_loss(hr, hr)) == 0.0
    assert float(ringing_loss(blurred, hr)) < 1e-6, "a monotone soft edge adds no variation"
    assert float(ringing_loss(far, hr)) == 0.0, "texture away from HR's steps is free"
    assert float(overshoot_loss(double, hr)) == 0.0 and float(ringing_loss(double, hr)) > 0
    to8 = lambda t: (t[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # noqa: E731
    assert edge_overshoot(to8(double), to8(hr)) == 0 and edge_ringing(to8(double), to8(hr)) > 50
    x = double.clone().requires_grad_(True)
    ringing_loss(x, hr).backward()
    assert float(x.grad[..., 18].abs().sum()) > 0 and float(x.grad[..., :8].abs().sum()) == 0
    from srgan.losses.registry import build_term

    assert build_term({"type": "ringing", "weight": 5}).label() == "edge ringing (4 px)"
