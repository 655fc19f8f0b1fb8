import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import natural_image
from PIL import Image

from srgan.cli import main


def run_cli(*args):
    """Run the real console entry point in a subprocess (stderr as a user sees it)."""
    return subprocess.run([sys.executable, "-m", "srgan.cli", *map(str, args)], capture_output=True, text=True)


def test_upscale_folder_glob_and_no_overwrite(tmp_path, tiny_model_file):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    Image.fromarray(natural_image(10, 12)).save(src / "a.png")
    Image.fromarray(natural_image(8, 8)[..., 0]).save(src / "sub" / "b.png")
    Image.fromarray(natural_image(8, 9)).save(src / "c.jpg")
    out = tmp_path / "out"
    assert main(["upscale", str(src), "-o", str(out), "-m", str(tiny_model_file), "-q"]) == 0
    assert Image.open(out / "a.png").size == (48, 40)
    assert Image.open(out / "sub" / "b.png").mode == "L"
    assert Image.open(out / "c.jpg").size == (36, 32)
    r = run_cli("upscale", src / "a.png", "-o", out, "-m", tiny_model_file)
    assert r.returncode == 1 and "already exists" in r.stderr and "Traceback" not in r.stderr
    out2 = tmp_path / "out2"
    assert main(["upscale", str(src / "*.png"), "-o", str(out2), "-m", str(tiny_model_file), "-q", "--compare"]) == 0
    assert (out2 / "a.png").exists() and (out2 / "a_compare.png").exists()


@pytest.mark.parametrize("kind", ["truncated", "text", "missing", "oversized"])
def test_upscale_bad_inputs_one_line_error(tmp_path, tiny_model_file, kind):
    p = tmp_path / "bad.png"
    extra = []
    if kind == "truncated":
        Image.fromarray(natural_image(40, 40)).save(p)
        p.write_bytes(p.read_bytes()[:300])
    elif kind == "text":
        p.write_text("not an image")
    elif kind == "oversized":
        Image.new("RGB", (100, 100)).save(p)
        extra = ["--max-pixels", "5000"]
    r = run_cli("upscale", p, "-o", tmp_path / "o", "-m", tiny_model_file, *extra)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[0].startswith("srgan: error: ")


def test_missing_model_exit_2(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    r = run_cli("upscale", tmp_path / "a.png", "-o", tmp_path / "o", "-m", "nope-x4")
    assert r.returncode == 2 and "model 'nope-x4' not found" in r.stderr and "Traceback" not in r.stderr


def test_evaluate_hr_only_folder_writes_reports_and_figures(tmp_path, tiny_model_file):
    hr = tmp_path / "MySet"
    hr.mkdir()
    for i in range(2):
        Image.fromarray(natural_image(34, 42, seed=i)).save(hr / f"{i}.png")
    out = tmp_path / "ev"
    assert main(["evaluate", str(hr), "-m", str(tiny_model_file), "-o", str(out), "--save-figures"]) == 0
    data = json.loads((out / "results.json").read_text())
    methods = data[0]["methods"]
    assert set(methods) == {"bicubic", "tiny-x4"}
    assert methods["bicubic"]["mean"]["psnr"] > 20
    assert "| bicubic |" in (out / "results.md").read_text()
    assert (out / "figures" / "MySet" / "0.png").stat().st_size > 1000


def test_evaluate_only_keeps_the_held_out_files_and_training_excludes_them(tmp_path):
    from srgan.data import ImageCache

    photos = tmp_path / "photos" / "SunHays80_HR"
    photos.mkdir(parents=True)
    for i in (1, 41, 42, 80):
        Image.fromarray(natural_image(40, 48, seed=i)).save(photos / f"img_{i:03d}_SRF_8_HR.png")
    out = tmp_path / "ev"
    assert main(["evaluate", str(photos), "--only", "img_0[4-7]?_*", "-o", str(out)]) == 0
    images = json.loads((out / "results.json").read_text())[0]["methods"]["bicubic"]["images"]
    assert sorted(images) == ["img_041_SRF_8_HR", "img_042_SRF_8_HR"]
    kept = ImageCache([tmp_path / "photos"], exclude=["SunHays80_HR/img_0[4-7]?_*"]).paths
    assert [p.name for p in kept] == ["img_001_SRF_8_HR.png", "img_080_SRF_8_HR.png"]
    assert main(["evaluate", str(photos), "--only", "nothing*"]) != 0


def test_evaluate_artefacts_and_alpha_curve(tmp_path):
    """--artefacts adds the srgan.artifacts measures (mean and worst image); --alpha-curve runs each
    model at the given alphas: alpha 0 is its MMSE partner, 1 the model itself."""
    hr = tmp_path / "MySet"
    hr.mkdir()
    for i in range(2):
        Image.fromarray(natural_image(48, 40, seed=i)).save(hr / f"{i}.png")
    out = tmp_path / "ev"
    args = [
        "evaluate",
        str(hr),
        "-m",
        "srgan-x4",
        "--artefacts",
        "--alpha-curve",
        "0,1",
        "-o",
        str(out),
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    methods = json.loads((out / "results.json").read_text())[0]["methods"]
    assert list(methods) == ["bicubic", "srgan-x4", "srgan-x4@alpha=0", "srgan-x4@alpha=1"]
    assert methods["srgan-x4@alpha=1"]["mean"] == methods["srgan-x4"]["mean"]
    mean = methods["bicubic"]["mean"]
    assert {"colour_shift", "chroma", "checkerboard", "grid", "block", "sharpness"} <= set(mean)
    assert 0 < mean["sharpness"] < 1, "bicubic is blurrier than HR"
    assert methods["srgan-x4@alpha=0"]["mean"]["sharpness"] < methods["srgan-x4"]["mean"]["sharpness"]
    md = (out / "results.md").read_text()
    assert "| method | colour shift | chroma error |" in md and ("(0)" in md or "(1)" in md)  # worst image named
    # HR's own row: 0 for the measures against HR, 1 for the ratios to HR, its own value for the halo
    hr_row = next(line for line in md.splitlines() if line.startswith("| HR (ground truth) |"))
    cells = [c.strip() for c in hr_row.split("|")[2:-1]]
    assert cells[0].startswith("0.00 / 0.00") and cells[2].startswith("1.00 / 1.00") and len(cells) == 9
    header = (out / "results.csv").read_text().splitlines()[0]
    assert header.endswith("lr_psnr,colour_shift,chroma,checkerboard,grid,block,sharpness,overshoot,ringing,halo")


def test_models_lists_default(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "srresnet-x4" in out and "1,549,462" in out and "Set5" in out
    header, row = out.splitlines()[0], next(line for line in out.splitlines() if line.startswith("srresnet-x4 "))
    assert row.index(" x4 ") + 1 == header.index("scale") and row.index("1,549,462") + len("1,549,462") == header.index(
        "params"
    ) + len("params")  # aligned columns
    assert main(["models", "--markdown"]) == 0
    md = capsys.readouterr().out
    assert "### `srresnet-x4`" in md and "| Set14 |" in md and "bicubic PSNR / SSIM" in md
    assert "| loss | 1 x L1 pixel |" in md
    # a multi-stage card names its last stage's loss as such (srresnet-x4-real: L1, then the squared error)
    assert "| loss | last stage: 1 x MSE pixel |" in md


def test_loss_summary_names_every_weighted_term():
    from srgan.cards import loss_summary as _loss_summary

    gan = {
        "stage": "srgan",
        "loss": {
            "pixel": "l1",
            "pixel_weight": 1.0,
            "feature_matching_weight": 0.1,
            "lattice_weight": 2.0,
            "adversarial_weight": 3e-3,
        },
    }
    assert _loss_summary(gan) == "1 x L1 pixel + 0.1 x D feature matching + 2 x lattice + 0.003 x adversarial"
    gan["loss"]["block_weight"] = 0.5
    assert (
        _loss_summary(gan)
        == "1 x L1 pixel + 0.1 x D feature matching + 2 x lattice + 0.5 x block + 0.003 x adversarial"
    )
    gan["loss"]["lattice_window"] = 16
    assert (
        _loss_summary(gan)
        == "1 x L1 pixel + 0.1 x D feature matching + 2 x lattice (16 px tiles) + 0.5 x block + 0.003 x adversarial"
    )
    gan["loss"]["shift_weight"] = 0.1
    assert (
        _loss_summary(gan) == "1 x L1 pixel + 0.1 x D feature matching + 2 x lattice (16 px tiles) + 0.5 x block"
        " + 0.1 x shift equivariance + 0.003 x adversarial"
    )
    gan["loss"]["shift_norm"] = "mse"
    assert _loss_summary(gan).endswith("0.1 x shift equivariance (squared) + 0.003 x adversarial")
    gan["loss"]["chroma_weight"] = 4.0
    assert _loss_summary(gan).endswith(
        "0.5 x block + 4 x chroma (Cb, Cr) + 0.1 x shift equivariance (squared) + 0.003 x adversarial"
    )
    paper = {
        "stage": "srgan",
        "loss": {"pixel_weight": 0.0, "vgg_weight": 1.0, "vgg_layer": "relu5_4", "adversarial_weight": 1e-3},
    }
    assert _loss_summary(paper) == "1 x VGG19 relu5_4 + 0.001 x adversarial"


def test_model_card_rows_list_every_stage_of_a_multi_stage_recipe():
    from srgan.cards import (
        first_init as _first_init,
    )
    from srgan.cards import (
        recipe_summary as _recipe_summary,
    )
    from srgan.cards import (
        steps_summary as _steps_summary,
    )

    one = {
        "steps": 1500,
        "recipe": {
            "name": "srgan",
            "init_generator": "srresnet-x4",
            "data": {"crop": 96, "batch_size": 16},
            "optim": {"lr": 1e-4, "schedule": "cosine"},
        },
    }
    assert _recipe_summary(one) == "srgan: batch 16, 96 px crops, lr 0.0001 cosine"
    assert _steps_summary(one) == "1500" and _first_init(one) == "`srresnet-x4`"
    assert _first_init({**one, "initialised_from": "an earlier `srresnet-x4`"}) == "an earlier `srresnet-x4`"
    two = {
        **one,
        "steps": 15000,
        "stages": [
            {
                "name": "srresnet",
                "steps": 6500,
                "crop": 96,
                "batch_size": 16,
                "lr": 3e-4,
                "schedule": "cosine",
                "init_generator": None,
            },
            {
                "name": "srresnet-crop192",
                "steps": 8500,
                "crop": 192,
                "batch_size": 4,
                "lr": 1e-4,
                "schedule": "cosine",
                "init_generator": "runs/x/srresnet",
            },
        ],
    }
    assert (
        _recipe_summary(two) == "srresnet: batch 16, 96 px crops, lr 0.0003 cosine; "
        "then srresnet-crop192: batch 4, 192 px crops, lr 0.0001 cosine"
    )
    assert _steps_summary(two) == "6500 + 8500 = 15000"
    assert _first_init(two) is None  # the second stage's start is the first stage, not an outside model


def test_packaging_lists_stages_trained_elsewhere_after_the_packaged_parents(tmp_path):
    """`package_model.py --earlier A --earlier B`: the card lists the parent model's own stages, then A, B."""
    import importlib.util

    from srgan.hub import save_generator
    from srgan.models import Generator

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("package_model", root / "scripts" / "package_model.py")
    package_model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(package_model)

    def recipe(name, init, lr):
        return {
            "name": name,
            "init_generator": init,
            "data": {"crop": 192, "batch_size": 32},
            "optim": {"lr": lr, "schedule": "cosine"},
        }

    g = Generator(4, 2, 8)
    first = save_generator(
        g, tmp_path / "c1.safetensors", {"training": {"recipe": recipe("c1", "srresnet-x4", 2e-4), "steps": 100}}
    )
    second = save_generator(
        g, tmp_path / "c2.safetensors", {"training": {"recipe": recipe("c2", "elsewhere/c1", 1e-4), "steps": 200}}
    )
    chain = package_model.stage_chain(recipe("c3", "elsewhere/c2", 5e-5), [str(first), str(second)])
    parent = json.loads((root / "src" / "srgan" / "weights" / "srresnet-x4.json").read_text())["training"]["stages"]
    assert len(parent) >= 2 and chain[: len(parent)] == parent
    assert [(s["name"], s["steps"], s["lr"], s["batch_size"]) for s in chain[len(parent) :]] == [
        ("c1", 100, 2e-4, 32),
        ("c2", 200, 1e-4, 32),
    ]
    assert package_model.stage_chain(recipe("c3", None, 5e-5)) == []  # one stage from scratch: no chain
    # one more stage of the packaged model itself carries its stages; another model's start does not
    assert package_model.stage_chain(recipe("c4", "srresnet-x4", 5e-5), name="srresnet-x4") == parent
    assert package_model.stage_chain(recipe("gan", "srresnet-x4", 1e-4), name="srgan-x4") == []


def test_gan_curves_rejects_a_path_that_names_no_checkpoint(tmp_path):
    """A mistyped checkpoint (a digit short) must stop the run before any measuring, not yield an empty table."""
    import importlib.util

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("gan_curves", root / "benchmarks" / "gan_curves.py")
    gan_curves = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gan_curves)
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "ckpt_000000300.pt").write_bytes(b"")
    ckpt = tmp_path / "run" / "checkpoints" / "ckpt_000000300.pt"
    assert gan_curves.checkpoints(tmp_path / "run") == [ckpt]
    assert gan_curves.run_label(ckpt) == gan_curves.run_label(tmp_path / "run") == "run"  # one curve, one label
    missing = tmp_path / "run" / "checkpoints" / "ckpt_00000300.pt"
    with pytest.raises(SystemExit, match="ckpt_00000300.pt: no such checkpoint file"):
        gan_curves.main([str(missing), "--bench", str(tmp_path), "--niqe-params", str(tmp_path / "none.npz")])
    with pytest.raises(SystemExit, match="no ckpt_"):
        gan_curves.checkpoints(tmp_path)
