"""The architecture and loss registries: adding either is a class plus one table entry, and
every part of srgan (training, logs, cards, model files, tiling, export) picks it up."""

import csv

import numpy as np
import pytest
import torch
import yaml
from conftest import natural_image
from torch import nn

from srgan.cli import main
from srgan.losses import LOSSES, LossTerm
from srgan.models import ARCHITECTURES, build_generator
from srgan.models.registry import Arch
from srgan.train import ConfigError, Trainer, load_config


class ToyNet(nn.Module):
    """conv - ReLU - conv to 3 s^2 channels, PixelShuffle: receptive radius 2 LR px."""

    arch = "toy"

    def __init__(self, scale: int = 2, channels: int = 8) -> None:
        super().__init__()
        self.scale, self.hparams = scale, {"scale": scale, "channels": channels}
        self.body = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, 3 * scale * scale, 3, padding=1),
            nn.PixelShuffle(scale),
        )

    def forward(self, x):
        return self.body(x)


class ToyLoss(LossTerm):
    """Mean |SR - HR| ** power."""

    default_name = "toy"

    def __init__(self, weight: float = 1.0, name: str | None = None, power: float = 2.0) -> None:
        super().__init__(weight, name)
        self.power = power

    def forward(self, ctx):
        return (ctx.sr.float() - ctx.hr.float()).abs().pow(self.power).mean()


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(ARCHITECTURES, "toy", Arch(ToyNet, lambda m: 3))
    monkeypatch.setitem(LOSSES, "toy", ToyLoss)


def _data(tmp_path):
    from PIL import Image

    d = tmp_path / "hr"
    d.mkdir()
    for i in range(3):
        Image.fromarray(natural_image(48, 56, seed=i)).save(d / f"{i}.png")
    return d


def _raw(tmp_path, model, loss, stage="srresnet", steps=2):
    d = _data(tmp_path)
    return {
        "name": "t",
        "stage": stage,
        "out_dir": str(tmp_path / "run"),
        "steps": steps,
        "threads": 1,
        "log_every": 1,
        "val_every": steps,
        "ckpt_every": steps,
        "ema_decay": 0.9,
        "tensorboard": False,
        "model": model,
        "loss": loss,
        "data": {"train": [str(d)], "val": str(d), "crop": 16, "batch_size": 2},
        "optim": {"lr": 1e-3},
    }


def test_toy_architecture_and_toy_loss_train_through_registration_only(registered, tmp_path, capsys):
    raw = _raw(
        tmp_path,
        {"arch": "toy", "scale": 2, "options": {}},
        [{"type": "pixel", "norm": "l1"}, {"type": "toy", "weight": 0.5, "power": 3}],
    )
    cfg = load_config(raw=raw)
    metrics = Trainer(cfg).fit(progress=False)
    assert np.isfinite(metrics["psnr"])
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert [r["step"] for r in rows] == ["1", "2"] and all(float(r["loss_toy"]) > 0 for r in rows), (
        "the column comes from the declared term"
    )
    assert float(rows[0]["loss_g"]) == pytest.approx(
        float(rows[0]["loss_pixel"]) + 0.5 * float(rows[0]["loss_toy"]), rel=1e-4
    )
    out = tmp_path / "toy.safetensors"
    assert main(["export-weights", str(tmp_path / "run"), str(out)]) == 0
    from srgan.api import from_pretrained
    from srgan.cards import loss_summary
    from srgan.hub import read_config

    assert read_config(out)["arch"] == "toy"
    assert loss_summary(read_config(out)["training"]["recipe"]) == "1 x L1 pixel + 0.5 x toy"
    img = natural_image(20, 30)
    a = from_pretrained(out, device="cpu", tile=None).upscale(img)
    b = from_pretrained(out, device="cpu", tile=7).upscale(img)  # tiled with the registered radius
    assert a.shape == (40, 60, 3) and np.array_equal(a, b)


def test_unknown_arch_loss_and_parameters_are_named(registered):
    cases = [
        ({"model": {"arch": "rrdb"}}, "unknown architecture 'rrdb' \\(did you mean 'rrdbnet'"),
        ({"model": {"arch": "toy", "num_blocks": 4}}, "architecture 'toy' has no parameter 'num_blocks'"),
        (
            {"model": {"arch": "srvgg", "options": {"activaton": "relu"}}},
            "no parameter 'activaton' \\(did you mean 'activation'",
        ),
        ({"loss": [{"type": "toyy"}]}, "unknown loss type 'toyy' \\(did you mean 'toy'"),
        (
            {"loss": [{"type": "toy", "pow": 2}]},
            "loss\\[0\\] \\(toy\\): unknown parameter 'pow' \\(did you mean 'power'",
        ),
        ({"loss": [{"type": "toy", "power": "high"}]}, "power: expected float"),
        ({"loss": [{"type": "pixel"}, {"type": "pixel"}]}, "two terms are named 'pixel'"),
        ({"loss": [{"weight": 1}]}, "needs a 'type'"),
        ({"discriminator": {"arch": "unets"}}, "discriminator.arch: unknown 'unets'"),
    ]
    for extra, msg in cases:
        with pytest.raises(ConfigError, match=msg):
            load_config(raw=extra)
    cfg = load_config(
        raw={"loss": [{"type": "pixel"}, {"type": "pixel", "name": "pixel2", "norm": "l1"}]}
    )  # two of a type, by name
    assert cfg.objective().columns == ["loss_pixel", "loss_pixel2"]


@pytest.mark.parametrize(
    "arch,model",
    [
        ("rrdbnet", {"num_blocks": 1, "channels": 8, "options": {"growth_channels": 4}}),
        ("srvgg", {"num_blocks": 2, "channels": 8}),
    ],
)
def test_new_architectures_train_export_and_serve(arch, model, tmp_path, capsys):
    """`srgan train` runs a few steps of each; the model file exports to ONNX and matches PyTorch."""
    raw = _raw(
        tmp_path,
        {"arch": arch, "scale": 4, **model},
        [{"type": "pixel", "norm": "l1"}, {"type": "adversarial", "weight": 1e-3}],
        stage="srgan",
        steps=3,
    )
    raw["data"]["crop"] = 32
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    assert main(["train", "--config", str(tmp_path / "c.yaml"), "--no-progress"]) == 0
    out = tmp_path / f"{arch}.safetensors"
    assert main(["export-weights", str(tmp_path / "run"), str(out)]) == 0
    from srgan.hub import load_generator

    g, cfg = load_generator(out)
    assert cfg["arch"] == arch and type(g) is type(build_generator(arch))
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from srgan.export import check_onnx, export_onnx

    assert check_onnx(g, export_onnx(g, tmp_path / "m.onnx"), shapes=((12, 16), (19, 9))) < 1e-4


def test_old_model_files_without_arch_load_as_srresnet(tmp_path):
    """Files written before the registry say "architecture": "srresnet", or nothing at all."""
    import json

    from safetensors.torch import save_file

    from srgan.hub import load_generator, packaged_models, read_config

    for name in ("srresnet-x4", "srresnet-x2", "srgan-x4"):
        g, cfg = load_generator(packaged_models()[name])
        assert g.arch == "srresnet" and cfg["arch"] == "srresnet"
    g = build_generator("srresnet", scale=2, num_blocks=1, channels=8)
    tensors = {k: v.contiguous() for k, v in g.state_dict().items()}
    save_file(
        tensors,
        str(tmp_path / "old.safetensors"),
        metadata={"srgan_config": json.dumps({"architecture": "srresnet", "scale": 2, "num_blocks": 1, "channels": 8})},
    )
    save_file(tensors, str(tmp_path / "bare.safetensors"))
    assert read_config(tmp_path / "old.safetensors")["arch"] == "srresnet"
    for f in ("old", "bare"):
        g2, _ = load_generator(tmp_path / f"{f}.safetensors")
        assert g2.hparams == g.hparams
        assert all(torch.equal(v, g2.state_dict()[k]) for k, v in g.state_dict().items())
