"""What a new user tripped over (issue "What a new user trips over"): the install command, wrong
numbers from `evaluate --scale`, silent no-ops, raw errors, no progress, small surprises."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import natural_image
from PIL import Image

from srgan.cli import main

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "--index-url https://download.pytorch.org/whl/cpu"


def _quick_start() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1]
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", section, re.S)[:2]]


def test_readme_installs_the_cpu_build_and_ci_follows_it():
    install, tests = _quick_start()
    torch_cmd = install.split(" && ")[0]
    assert torch_cmd == f"pip install torch==2.13.0 {CPU_INDEX}"
    ci = (ROOT / ".ci" / "run").read_text()
    assert install.replace("srgan demo -o srgan-demo", 'srgan demo -o "$(mktemp -d)/srgan-demo"') in ci
    assert tests in ci


def _dry_run(*args: str) -> list[dict]:
    run = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--retries", "0", "--report", "-", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    if run.returncode != 0:
        pytest.skip(f"pip could not resolve here (offline?): {run.stderr.strip().splitlines()[-1:]}")
    return json.loads(run.stdout)["install"]


def test_readme_torch_command_resolves_no_cuda_packages():
    """`pip install --dry-run` of the README's torch command: the CPU wheel, no nvidia-*/cuda-*."""
    _, torch_cmd_args = _quick_start()[0].split(" && ")[0].split("pip install ", 1)
    resolved = _dry_run("--ignore-installed", *torch_cmd_args.split())
    names = {p["metadata"]["name"].lower(): p["metadata"]["version"] for p in resolved}
    assert names["torch"].endswith("+cpu"), names["torch"]
    assert not [n for n in names if n.startswith(("nvidia-", "cuda-", "triton"))], sorted(names)


def test_installing_the_package_keeps_an_installed_cpu_torch():
    import torch

    resolved = _dry_run(".")
    names = {p["metadata"]["name"].lower() for p in resolved}
    assert "torch" not in names and not [n for n in names if n.startswith("nvidia-")], sorted(names)
    assert torch.__version__  # the installed one stays


# --- evaluate ------------------------------------------------------------------------------


def _set_with_scales(root: Path) -> Path:
    """A benchmark set holding x2/ and x4/ (HR and LR each), two images, like the shared ones."""
    s = root / "MySet"
    for scale in (2, 4):
        for sub in ("HR", "LR"):
            (s / f"x{scale}" / sub).mkdir(parents=True)
        for i in range(2):
            hr = natural_image(48, 40, seed=i)
            Image.fromarray(hr).save(s / f"x{scale}" / "HR" / f"img_{i}.png")
            from srgan.imresize import imresize

            Image.fromarray(imresize(hr, 1 / scale)).save(s / f"x{scale}" / "LR" / f"img_{i}.png")
    return s


def test_evaluate_a_scale_without_its_folder_makes_lr_from_hr(tmp_path, capsys):
    s = _set_with_scales(tmp_path)
    assert main(["evaluate", str(s), "--scale", "3", "-o", str(tmp_path / "ev")]) == 0
    captured = capsys.readouterr()
    assert "has no x3/ folder (it has x2, x4)" in captured.err and "made from" in captured.err
    data = json.loads((tmp_path / "ev" / "results.json").read_text())[0]
    assert data["set"] == "MySet" and data["scale"] == 3
    assert sorted(data["methods"]["bicubic"]["images"]) == ["img_0", "img_1"], "no LR files scored as HR"
    assert "### MySet x3 (2 images" in captured.out


def test_evaluate_set5_x3_reproduces_the_published_bicubic(bench, capsys):
    """Set5 x3 bicubic is 30.39 dB / 0.8682 in the literature (e.g. Kim et al., VDSR, Table 2)."""
    assert main(["evaluate", str(bench / "Set5"), "--scale", "3"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| bicubic |"))
    psnr, ssim = (float(v) for v in row.split("|")[2:4])
    assert abs(psnr - 30.39) < 0.03 and abs(ssim - 0.8682) < 0.002


def test_evaluate_help_describes_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    out = capsys.readouterr().out
    assert re.search(r"--formats FORMATS\s+report files to write", out)


# --- upscale -------------------------------------------------------------------------------


def _image(tmp_path: Path, name: str = "a.png", size=(20, 16)) -> Path:
    p = tmp_path / name
    Image.fromarray(natural_image(*size)).save(p)
    return p


def test_empty_inputs_are_an_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "notes.txt").write_text("not an image")
    for folder in ("empty", "texts"):
        assert main(["upscale", str(tmp_path / folder), "-o", str(tmp_path / "out")]) == 2
        assert f"no images found in {tmp_path / folder}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_alpha_needs_a_model_with_a_partner_and_is_recorded(tmp_path, capsys):
    src = _image(tmp_path)
    assert main(["upscale", str(src), "-o", str(tmp_path / "o.png"), "--alpha", "0.5", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "srresnet-x4 is its own" in err and "models that take --alpha: srgan-x4" in err
    out = tmp_path / "g.png"
    assert main(["upscale", str(src), "-o", str(out), "-m", "srgan-x4", "--alpha", "0.5", "--device", "cpu"]) == 0
    from srgan.provenance import read_provenance

    record = read_provenance(out)
    assert record["model"] == "srgan-x4@alpha=0.5" and record["alpha"] == 0.5


def test_server_header_names_the_alpha_used():
    pytest.importorskip("fastapi")
    import io

    from fastapi.testclient import TestClient

    from srgan.server.app import create_app
    from srgan.server.settings import ServerSettings

    buf = io.BytesIO()
    Image.fromarray(natural_image(16, 16)).save(buf, "PNG")
    with TestClient(create_app(ServerSettings(device="cpu"))) as c:
        files = {"image": ("a.png", buf.getvalue())}
        r = c.post("/v1/upscale", files=files, data={"model": "srgan-x4", "alpha": "0.5"})
        assert r.status_code == 200 and r.headers["x-srgan-model"] == "srgan-x4@alpha=0.5"
        r = c.post("/v1/upscale", files=files, data={"model": "srresnet-x4", "alpha": "0.5"})
        assert r.status_code == 422 and "takes --alpha" in r.json()["error"] or "take --alpha" in r.json()["error"]


def test_output_path_that_is_a_file_is_a_one_line_error(tmp_path, capsys):
    a, b = _image(tmp_path, "a.png"), _image(tmp_path, "b.png")
    (tmp_path / "afile").write_text("x")
    assert main(["upscale", str(a), str(b), "-o", str(tmp_path / "afile")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "afile is a file; give a folder for 2 inputs" in err and "Errno" not in err


def test_scale_picks_the_model_of_that_scale_or_says_which_exist(tmp_path, capsys):
    src = _image(tmp_path)
    assert main(["upscale", str(src), "-o", str(tmp_path / "x2.png"), "--scale", "2", "--device", "cpu"]) == 0
    assert Image.open(tmp_path / "x2.png").size == (32, 40)  # srresnet-x2 on a 16 x 20 input
    capsys.readouterr()
    assert main(["upscale", str(src), "-o", str(tmp_path / "x3.png"), "--scale", "3"]) == 2
    err = capsys.readouterr().err
    assert "no packaged model upscales x3" in err and "srresnet-x2 (x2)" in err and "usage:" not in err
    assert main(["upscale", str(src), "-o", str(tmp_path / "y.png"), "-m", "srresnet-x4", "--scale", "2"]) == 2
    assert "srresnet-x4 upscales x4" in capsys.readouterr().err


def test_several_inputs_each_get_a_line_and_no_bars_off_a_terminal(tmp_path, capsys):
    a, b = _image(tmp_path, "a.png"), _image(tmp_path, "b.png")
    assert main(["upscale", str(a), str(b), "-o", str(tmp_path / "out"), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{a} -> ") and lines[1].startswith(f"{b} -> ")
    assert "\r" not in captured.err and "it/s" not in captured.err and "tile" not in captured.err


def test_tile_progress_reports_every_tile_once():
    import torch

    from srgan.inference import upscale_tensor
    from srgan.models import Generator

    g = Generator(4, 1).eval()
    seen = []
    upscale_tensor(g, torch.rand(1, 3, 50, 70), 4, tile=16, workers=2, progress=lambda d, t: seen.append((d, t)))
    total = 2 * 3 * 4  # 2 bands across the 70 columns (35 each: 3 tiles of 16 px) x 50 rows (4 tiles)
    assert [d for d, _ in seen] == list(range(1, total + 1)) and {t for _, t in seen} == {total}


def test_cli_tile_bar_follows_the_callback():
    from tqdm import tqdm

    from srgan.cli import _tile_progress

    with tqdm(total=0, disable=False, file=open("/dev/null", "w")) as bar:
        update = _tile_progress(bar)
        for done in range(1, 7):
            update(done, 6)
        assert (bar.n, bar.total) == (6, 6)


# --- smaller points ------------------------------------------------------------------------


def test_demo_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "comparison.png").write_text("mine")
    assert main(["demo", "-o", str(out), "--device", "cpu"]) == 2
    assert "already holds comparison.png: use --overwrite" in capsys.readouterr().err
    assert (out / "comparison.png").read_text() == "mine"


def test_compare_images_carry_provenance_and_the_map_a_legend(tmp_path, capsys):
    from srgan.faithfulness import LEGEND_UNITS

    src = _image(tmp_path, size=(40, 56))
    args = ["upscale", str(src), "-o", str(tmp_path / "o.png"), "-m", "srgan-x4", "--compare", "--device", "cpu"]
    assert main([*args, "--hallucination-map", str(tmp_path / "map.png")]) == 0
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "o_compare.png"), str(tmp_path / "map.png")]) == 0
    out = capsys.readouterr().out
    assert out.count("synthesised by super-resolution") == 2
    heat = np.asarray(Image.open(tmp_path / "map.png"))
    assert heat.shape[1] == 56 * 4 and heat.shape[0] == 40 * 4 + 36, "same width, a 36 px legend under it"
    bar = heat[40 * 4 + 5]
    assert bar[0].sum() < 60 and bar[-1].sum() > 600, "the colour bar runs from magma's black to its light end"
    assert "10% RMS" in LEGEND_UNITS[2]


def test_model_for_source_picks_within_the_family():
    from srgan.hub import model_for_source

    both = ["srresnet-x4", "srresnet-x4-jpeg", "srresnet-x4-real", "srgan-x4"]
    for name in ("srresnet-x4", "srresnet-x4-jpeg", "srresnet-x4-real"):
        assert model_for_source(name, "clean", both) == "srresnet-x4"
        assert model_for_source(name, "photo", both) == "srresnet-x4-jpeg"
        assert model_for_source(name, "degraded", both) == "srresnet-x4-real"
    only_real = ["srresnet-x4", "srresnet-x4-real"]
    assert model_for_source("srresnet-x4", "photo", only_real) == "srresnet-x4-real", "the -real one stands in"
    assert model_for_source("srgan-x4", "photo", both) is None
    assert model_for_source("srgan-x4", "clean", both) == "srgan-x4"
    with pytest.raises(ValueError, match="source must be one of clean, photo, degraded"):
        model_for_source("srresnet-x4", "scan", both)


@pytest.mark.parametrize("siblings", [("-real",), ("-real", "-jpeg")])
def test_auto_sends_compressed_jpegs_to_the_photo_model(tmp_path, monkeypatch, siblings):
    """-m auto: a JPEG under quality 90 goes to the -jpeg sibling (else the -real one), a PNG or a
    q95 JPEG to the plain model."""
    import srgan.hub as hub
    from srgan.hub import save_generator
    from srgan.models import Generator
    from srgan.provenance import read_provenance

    packaged = {k: v for k, v in hub.packaged_models().items() if not k.endswith(("-real", "-jpeg"))}
    for suffix in siblings:
        name = "srresnet-x4" + suffix
        packaged[name] = save_generator(Generator(4, 1), tmp_path / f"{name}.safetensors", {"name": name})
    monkeypatch.setattr(hub, "packaged_models", lambda models_dir=None: packaged)
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(natural_image(16, 16)).save(src / "a.png")
    Image.fromarray(natural_image(16, 16)).save(src / "b.jpg", quality=70)
    Image.fromarray(natural_image(16, 16)).save(src / "c.jpg", quality=95)
    assert main(["upscale", str(src), "-o", str(tmp_path / "out"), "-m", "auto", "--device", "cpu"]) == 0
    used = {p.stem: read_provenance(p)["model"] for p in (tmp_path / "out").iterdir()}
    assert used == {"a": "srresnet-x4", "b": "srresnet-x4" + siblings[-1], "c": "srresnet-x4"}
