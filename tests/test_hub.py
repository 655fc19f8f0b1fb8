import os
import pickle

import pytest
import torch

from srgan.hub import ModelFileError, load_generator, packaged_models, read_config, save_generator
from srgan.models import Generator


def test_safetensors_roundtrip(tmp_path):
    torch.manual_seed(0)
    g = Generator(2, 3)
    path = save_generator(g, tmp_path / "m.safetensors", {"metrics": {"Set5": {"psnr": 1.0, "ssim": 0.5}}})
    g2, cfg = load_generator(path)
    assert (g2.scale, g2.num_blocks) == (2, 3)
    assert cfg["metrics"]["Set5"]["psnr"] == 1.0
    for k, v in g.state_dict().items():
        assert torch.equal(v, g2.state_dict()[k]), k
    assert read_config(path)["arch"] == "srresnet"


def test_pickle_refused_by_default_and_weights_only_when_allowed(tmp_path):
    g = Generator(4, 2)
    p = tmp_path / "m.pth"
    torch.save(g.state_dict(), p)
    with pytest.raises(ModelFileError, match="allow-pickle"):
        load_generator(p)
    g2, _ = load_generator(p, allow_pickle=True)
    assert g2.num_blocks == 2


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/srgan_pwned_marker",))


def test_malicious_pickle_rejected(tmp_path):
    marker = "/tmp/srgan_pwned_marker"
    if os.path.exists(marker):
        os.remove(marker)
    p = tmp_path / "evil.pth"
    with p.open("wb") as f:
        pickle.dump({"head.0.weight": _Evil()}, f)
    with pytest.raises(ModelFileError, match="refused or unreadable"):
        load_generator(p, allow_pickle=True)
    assert not os.path.exists(marker)


def test_mismatches_give_clear_errors(tmp_path):
    g = Generator(4, 2)
    p = save_generator(g, tmp_path / "m.safetensors")
    with pytest.raises(ModelFileError, match="x4, but x2 was requested"):
        load_generator(p, expect_scale=2)
    # config says 3 blocks but weights hold 2
    bad = save_generator(g, tmp_path / "bad.safetensors", {"num_blocks": 3})
    with pytest.raises(ModelFileError, match="missing"):
        load_generator(bad)
    trunc = tmp_path / "trunc.safetensors"
    trunc.write_bytes(p.read_bytes()[:1000])
    with pytest.raises(ModelFileError, match="safetensors"):
        load_generator(trunc)
    with pytest.raises(ModelFileError, match="not found"):
        load_generator("no-such-model")


def test_default_model_is_packaged():
    models = packaged_models()
    assert "srresnet-x4" in models
    g, cfg = load_generator("srresnet-x4")
    assert g.scale == 4 and cfg["metrics"]["Set5"]["psnr"] > 29.43


def test_spec_recipe_b5_generator_loads_and_upscales(tmp_path):
    """Users of the `spec` recipe (B=5, as in leftthomas/SRGAN) get a model file that the same
    entry point loads; its output equals the plain forward."""
    import numpy as np

    from srgan.api import from_pretrained
    from srgan.train.recipes import load_recipe

    (spec,) = load_recipe("spec")
    torch.manual_seed(0)
    g = Generator(spec.model.scale, spec.model.num_blocks).eval()
    path = save_generator(g, tmp_path / "spec-b5.safetensors", {"name": "spec-b5"})
    model = from_pretrained(path, device="cpu")
    assert (model.generator.num_blocks, model.scale) == (5, 4)
    x = np.random.default_rng(0).random((20, 24, 3)).astype(np.float32)
    y = model.upscale(x)
    with torch.no_grad():
        ref = g(torch.from_numpy(x).permute(2, 0, 1)[None]).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    assert y.shape == (80, 96, 3) and np.abs(y - ref).max() < 1e-5
