"""`srgan convert` and pickles of community layouts: each foreign layout is built here from a
reference implementation with random weights (written after the original repositories'
code), saved the way those projects save it, converted, and run through srgan's engine."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srgan.cli import main
from srgan.hub import ModelFileError, load_generator


def conv(i, o):
    return nn.Conv2d(i, o, 3, 1, 1)


class RefRDB(nn.Module):  # BasicSR ResidualDenseBlock
    def __init__(self, nf, gc):
        super().__init__()
        self.conv1, self.conv2, self.conv3 = conv(nf, gc), conv(nf + gc, gc), conv(nf + 2 * gc, gc)
        self.conv4, self.conv5 = conv(nf + 3 * gc, gc), conv(nf + 4 * gc, nf)

    def forward(self, x):
        lr = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
        x1 = lr(self.conv1(x))
        x2 = lr(self.conv2(torch.cat((x, x1), 1)))
        x3 = lr(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = lr(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        return self.conv5(torch.cat((x, x1, x2, x3, x4), 1)) * 0.2 + x


class RefRRDB(nn.Module):
    def __init__(self, nf, gc):
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = RefRDB(nf, gc), RefRDB(nf, gc), RefRDB(nf, gc)

    def forward(self, x):
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RefRRDBNet(nn.Module):  # BasicSR / Real-ESRGAN RRDBNet, x4
    def __init__(self, nf=16, nb=2, gc=8):
        super().__init__()
        self.conv_first = conv(3, nf)
        self.body = nn.Sequential(*[RefRRDB(nf, gc) for _ in range(nb)])
        self.conv_body, self.conv_up1, self.conv_up2, self.conv_hr, self.conv_last = (
            conv(nf, nf),
            conv(nf, nf),
            conv(nf, nf),
            conv(nf, nf),
            conv(nf, 3),
        )

    def forward(self, x):
        lr = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = lr(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = lr(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(lr(self.conv_hr(feat)))


class RefSRVGG(nn.Module):  # Real-ESRGAN SRVGGNetCompact, prelu
    def __init__(self, nf=16, nc=4, s=4):
        super().__init__()
        layers = [conv(3, nf), nn.PReLU(nf)]
        for _ in range(nc):
            layers += [conv(nf, nf), nn.PReLU(nf)]
        self.body = nn.ModuleList(layers + [conv(nf, 3 * s * s)])
        self.s = s

    def forward(self, x):
        out = x
        for m in self.body:
            out = m(out)
        return F.pixel_shuffle(out, self.s) + F.interpolate(x, scale_factor=self.s, mode="nearest")


class RefMSRResNet(nn.Module):  # BasicSR MSRResNet
    def __init__(self, nf=16, nb=2, s=4):
        super().__init__()
        self.s = s
        self.conv_first = conv(3, nf)
        self.body = nn.Sequential(*[nn.Module() for _ in range(nb)])
        for b in self.body:
            b.conv1, b.conv2 = conv(nf, nf), conv(nf, nf)
        self.upconv1 = conv(nf, nf * (4 if s == 4 else s * s))
        if s == 4:
            self.upconv2 = conv(nf, nf * 4)
        self.conv_hr, self.conv_last = conv(nf, nf), conv(nf, 3)

    def forward(self, x):
        lr = lambda t: F.leaky_relu(t, 0.1)  # noqa: E731
        out = lr(self.conv_first(x))
        for b in self.body:
            out = out + b.conv2(F.relu(b.conv1(out)))
        if self.s == 4:
            out = lr(F.pixel_shuffle(self.upconv1(out), 2))
            out = lr(F.pixel_shuffle(self.upconv2(out), 2))
        else:
            out = lr(F.pixel_shuffle(self.upconv1(out), self.s))
        out = self.conv_last(lr(self.conv_hr(out)))
        return out + F.interpolate(x, scale_factor=self.s, mode="bilinear", align_corners=False)


def _esrgan_old_keys(state):
    """The original ESRGAN repository's names for the same RRDBNet."""
    out = {}
    for k, v in state.items():
        k = k.replace("body.", "RRDB_trunk.", 1) if k.startswith("body.") else k
        k = k.replace(".rdb", ".RDB")
        for a, b in (
            ("conv_body.", "trunk_conv."),
            ("conv_up1.", "upconv1."),
            ("conv_up2.", "upconv2."),
            ("conv_hr.", "HRconv."),
        ):
            k = b + k[len(a) :] if k.startswith(a) else k
        out[k] = v
    return out


def _random(module):
    torch.manual_seed(3)
    for p in module.parameters():
        p.data.uniform_(-0.1, 0.1) if p.ndim > 1 else p.data.uniform_(0.02, 0.2)
    return module.eval()


CASES = {
    "rrdbnet-basicsr": (
        lambda: RefRRDBNet(),
        lambda sd: {"params_ema": sd, "params": {k: torch.zeros_like(v) for k, v in sd.items()}},
        "rrdbnet",
        4,
    ),
    "rrdbnet-esrgan": (lambda: RefRRDBNet(), _esrgan_old_keys, "rrdbnet", 4),
    "srvgg": (lambda: RefSRVGG(), lambda sd: {"params": sd}, "srvgg", 4),
    "msrresnet-x4": (lambda: RefMSRResNet(), lambda sd: {"module." + k: v for k, v in sd.items()}, "msrresnet", 4),
    "msrresnet-x2": (lambda: RefMSRResNet(s=2), lambda sd: sd, "msrresnet", 2),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_convert_round_trips_foreign_layouts(case, tmp_path, capsys):
    build, wrap, arch, scale = CASES[case]
    ref = _random(build())
    src = tmp_path / f"{case}.pth"
    torch.save(wrap(ref.state_dict()), src)
    dst = tmp_path / f"{case}.safetensors"
    assert main(["convert", str(src), str(dst)]) == 2, "a pickle needs --allow-pickle"
    assert "--allow-pickle" in capsys.readouterr().err
    assert main(["convert", str(src), str(dst), "--allow-pickle", "--license", "BSD-3-Clause", "--source", "test"]) == 0
    g, cfg = load_generator(dst)
    assert (cfg["arch"], g.scale, cfg["license"], cfg["source"], cfg["converted_from"]) == (
        arch,
        scale,
        "BSD-3-Clause",
        "test",
        src.name,
    )
    x = torch.rand(1, 3, 13, 17)
    with torch.inference_mode():
        assert torch.allclose(g(x), ref(x), atol=1e-5), "converted output differs from the reference forward"
    assert main(["convert", str(src), str(dst), "--allow-pickle"]) == 2, "no overwrite without --overwrite"


@pytest.mark.parametrize("case", ["srvgg", "rrdbnet-esrgan"])
def test_upscale_and_api_run_a_foreign_pickle_through_the_engine(case, tmp_path):
    """-m FILE.pth --allow-pickle: recognised, tiled exactly, with provenance."""
    from PIL import Image

    from srgan.api import from_pretrained

    build, wrap, _, scale = CASES[case]
    ref = _random(build())
    src = tmp_path / "w.pth"
    torch.save(wrap(ref.state_dict()), src)
    img = (np.random.default_rng(0).random((30, 22, 3)) * 255).astype(np.uint8)
    with pytest.raises(ModelFileError, match="allow-pickle"):
        from_pretrained(src)
    model = from_pretrained(src, allow_pickle=True, device="cpu", tile=8)
    with torch.inference_mode():
        want = (
            ref(torch.from_numpy(img.transpose(2, 0, 1).astype(np.float32) / 255)[None])
            .clamp(0, 1)[0]
            .permute(1, 2, 0)
            .numpy()
        )
    got = model.upscale(img)
    assert got.shape == (30 * scale, 22 * scale, 3)
    assert np.abs(got.astype(int) - np.floor(want * 255 + 0.5).astype(int)).max() <= 1
    Image.fromarray(img).save(tmp_path / "in.png")
    assert (
        main(
            [
                "upscale",
                str(tmp_path / "in.png"),
                "-o",
                str(tmp_path / "out.png"),
                "-m",
                str(src),
                "--allow-pickle",
                "--tile",
                "8",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert main(["inspect", str(tmp_path / "out.png")]) == 0


def test_unknown_layout_and_bad_wrappers_are_one_line_errors(tmp_path, capsys):
    src = tmp_path / "x.pth"
    torch.save({"encoder.weight": torch.zeros(3)}, src)
    assert main(["convert", str(src), str(tmp_path / "o.safetensors"), "--allow-pickle"]) == 2
    assert "unknown weight layout (first keys: encoder.weight)" in capsys.readouterr().err
    torch.save({"params": [1, 2]}, src)
    assert main(["convert", str(src), str(tmp_path / "o.safetensors"), "--allow-pickle"]) == 2
    assert "not a state dict of tensors" in capsys.readouterr().err
    assert main(["convert", str(src), str(tmp_path / "o.pth"), "--allow-pickle"]) == 2
    assert "must be a .safetensors file" in capsys.readouterr().err


def test_leftthomas_peer_converts_and_scores_as_compare_peers_reports(bench, tmp_path):
    """The spec's own generator: docs/models.md's peer table gives Set5 x4 30.66 dB for it."""
    from pathlib import Path

    from srgan.api import from_pretrained
    from srgan.evaluate import evaluate_set, model_method

    peer = bench.parent.parent / "peers" / "leftthomas_srgan_netG_x4.pth"
    if not peer.is_file():
        pytest.skip(f"{peer} not present")
    dst = tmp_path / "leftthomas.safetensors"
    assert main(["convert", str(peer), str(dst), "--allow-pickle", "--source", "leftthomas/SRGAN"]) == 0
    g, cfg = load_generator(dst)
    assert (cfg["arch"], g.num_blocks, g.scale) == ("leftthomas", 5, 4)
    result = evaluate_set(Path(bench) / "Set5", 4, [model_method("lt", from_pretrained(dst, device="cpu"))])
    assert math.isclose(result.mean("lt")["psnr"], 30.66, abs_tol=0.006)
    direct = from_pretrained(peer, allow_pickle=True, device="cpu")  # the pickle itself, through the engine
    result = evaluate_set(Path(bench) / "Set5", 4, [model_method("lt", direct)])
    assert math.isclose(result.mean("lt")["psnr"], 30.66, abs_tol=0.006)


def test_serve_models_dir_runs_a_converted_model(tmp_path):
    """`srgan serve --models-dir DIR` lists and runs converted models beside the packaged ones."""
    import io

    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient
    from PIL import Image

    from srgan.server.app import create_app
    from srgan.server.settings import ServerSettings

    build, wrap, _, _ = CASES["srvgg"]
    src = tmp_path / "w.pth"
    torch.save(wrap(_random(build()).state_dict()), src)
    models = tmp_path / "models"
    assert (
        main(["convert", str(src), str(models / "compact-x4.safetensors"), "--allow-pickle", "--license", "MIT"]) == 0
    )
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(1).random((20, 24, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    with TestClient(create_app(ServerSettings(device="cpu", models_dir=str(models)))) as c:
        listed = {m["name"]: m for m in c.get("/v1/models").json()["models"]}
        assert listed["compact-x4"]["arch"] == "srvgg" and "srresnet-x4" in listed
        r = c.post("/v1/upscale", files={"image": ("a.png", buf.getvalue(), "image/png")}, data={"model": "compact-x4"})
        assert r.status_code == 200, r.text
        assert Image.open(io.BytesIO(r.content)).size == (96, 80)
