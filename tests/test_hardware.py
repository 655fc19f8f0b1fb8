"""The ISA report and amp: auto (srgan.hardware)."""

import pytest

from srgan import hardware


def test_isa_report_format():
    r = hardware.isa_report()
    assert set(r) == {"cpu", "flags", "onednn_isa", "bf16"}
    assert isinstance(r["cpu"], str) and r["cpu"]
    assert set(r["flags"]) <= set(hardware.FLAGS) and r["flags"] == sorted(r["flags"])
    assert r["bf16"] == bool(set(r["flags"]) & {"avx512_bf16", "amx_bf16"})
    assert r["onednn_isa"] == "unknown" or any(w in r["onednn_isa"] for w in ("AVX", "SSE", "AMX", "NEON"))


@pytest.mark.parametrize(
    "flags,want", [({"avx2", "fma"}, "none"), ({"avx2", "avx512f", "avx512_bf16"}, "bf16"), ({"amx_bf16"}, "bf16")]
)
def test_auto_amp_follows_the_cpu(monkeypatch, flags, want):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset(flags))
    assert hardware.auto_amp("cpu") == want


def test_amp_auto_is_resolved_and_recorded(tmp_path, monkeypatch):
    from conftest import natural_image
    from PIL import Image

    from srgan.train import Trainer, load_config

    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2"}))
    d = tmp_path / "hr"
    d.mkdir()
    Image.fromarray(natural_image(32, 32)).save(d / "a.png")
    cfg = load_config(raw={"amp": "auto", "out_dir": str(tmp_path / "run"), "steps": 1, "tensorboard": False,
                           "model": {"scale": 2, "num_blocks": 1, "channels": 8},
                           "data": {"train": [str(d)], "crop": 16, "batch_size": 2}})  # fmt: skip
    Trainer(cfg).fit(progress=False)
    import json

    assert json.loads((tmp_path / "run" / "config.json").read_text())["amp"] == "none"
