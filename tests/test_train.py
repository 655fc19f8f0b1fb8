import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import natural_image
from PIL import Image

from srgan.data import ImageCache, RandomCropDataset, StepBatchSampler
from srgan.train import ConfigError, Trainer, load_config
from srgan.train.checkpoint import list_checkpoints, load_latest_checkpoint


def _dataset(root: Path) -> Path:
    (root / "hr").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(natural_image(48 + 8 * i, 56, seed=i)).save(root / "hr" / f"{i}.png")
    return root / "hr"


def _config(tmp_path: Path, out: str, steps: int = 8, degradation: str = "bicubic", helpers: int = 0) -> Path:
    data = _dataset(tmp_path / f"data_{out}")
    cfg = {
        "name": "tiny",
        "out_dir": str(tmp_path / out),
        "steps": steps,
        "seed": 3,
        "threads": 1,
        "log_every": 2,
        "val_every": 4,
        "ckpt_every": 1,
        "keep_checkpoints": 2,
        "ema_decay": 0.9,
        "model": {"scale": 2, "num_blocks": 1, "channels": 8},
        "data": {
            "train": [str(data)],
            "val": str(data),
            "crop": 16,
            "batch_size": 2,
            "degradation": degradation,
            "batch_helpers": helpers,
        },
        "optim": {"lr": 1e-3, "schedule": "cosine", "warmup_steps": 2},
        "loss": {"pixel": "l1"},
    }
    path = tmp_path / f"{out}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _final_weights(run: Path) -> dict:
    state, _ = load_latest_checkpoint(run / "checkpoints")
    return state


def test_config_typo_and_type_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'optim.learning_rate'"):
        load_config(raw={"data": {"train": ["x"]}, "optim": {"learning_rate": 1e-4}})
    with pytest.raises(ConfigError, match="did you mean 'batch_size'"):
        load_config(raw={"data": {"train": ["x"], "batchsize": 4}})
    with pytest.raises(ConfigError, match="expected int"):
        load_config(raw={"data": {"train": ["x"]}, "steps": "many"})
    with pytest.raises(ConfigError, match="multiple of model.scale"):
        load_config(raw={"data": {"train": ["x"], "crop": 30}, "model": {"scale": 4}})
    cfg = load_config(raw={"data": {"train": ["x"]}}, overrides=["optim.lr=2e-4", "model.num_blocks=5"])
    assert cfg.optim.lr == 2e-4 and cfg.model.num_blocks == 5 and cfg.optim.betas == (0.9, 0.99)


def test_packaged_recipes_are_valid_and_faithful():
    from srgan.train.recipes import load_recipe, recipe_names

    assert set(recipe_names()) >= {"spec", "paper", "srgan-mse", "cpu-fast"}
    for name in recipe_names():
        assert load_recipe(name)
    (spec,) = load_recipe("spec")
    assert spec.model.num_blocks == 5 and spec.data.crop == 96 and spec.data.batch_size == 16
    assert spec.optim.betas == (0.9, 0.99) and spec.steps == 150 * 800 // 16
    assert spec.loss == [
        {"type": "pixel", "weight": 1.0, "norm": "mse"},
        {"type": "vgg", "weight": 6e-3, "layer": "relu5_3"},
        {"type": "adversarial", "weight": 1e-3},
    ]
    pre, gan = load_recipe("paper", steps_factor=0.01, out="/tmp/p")
    assert (pre.steps, gan.steps, gan.optim.milestones) == (10_000, 2_000, [1_000])
    vgg = {t["type"]: t for t in gan.loss}["vgg"]
    assert (
        gan.init_generator == pre.out_dir and vgg["layer"] == "relu5_4" and "pixel" not in {t["type"] for t in gan.loss}
    )
    assert vgg["rescale"] == pytest.approx(1 / 12.75)
    _, mse_gan = load_recipe("srgan-mse")
    assert mse_gan.loss == [{"type": "pixel", "weight": 1.0, "norm": "mse"}, {"type": "adversarial", "weight": 1e-3}]
    gan, ring, r1 = load_recipe("cpu-fast-srgan")  # what trained srgan-x4: no VGG, D feature matching, grid guards
    kinds = {t["type"] for t in gan.loss}
    assert (
        gan.stage == "srgan" and gan.init_generator == "srresnet-x4" and "vgg" not in kinds and gan.d_random_shift > 0
    )
    assert {"feature_matching", "overshoot", "texture", "lattice", "shift", "chroma", "adversarial"} <= kinds
    # then the ringing stage: from the first stage's run, edge ringing on, a stronger adversarial term
    # anchored by the block-mean colour and the block-boundary terms
    terms = {t.get("name", t["type"]): t for t in ring.loss}
    assert ring.stage == "srgan" and ring.init_generator == gan.out_dir
    assert set(terms) == kinds | {"pixel", "ringing", "lowpass", "block"}
    assert terms["lowpass"]["pool"] == 4 and terms["pixel"].get("pool") is None
    assert not gan.d_r1 and not ring.d_r1 and r1.d_r1 == 1.0  # then the same terms again with R1 on D
    assert r1.init_generator == ring.out_dir and r1.loss == ring.loss
    # r1 shares ringing's loss list in the YAML (an anchor): a stage override still changes one stage only
    _, ring5, r1_5 = load_recipe("cpu-fast-srgan", ["ringing:loss.shift.weight=5"])
    shift = [{t.get("name", t["type"]): t for t in c.loss}["shift"]["weight"] for c in (ring5, r1_5)]
    assert shift == [5, 10.0]
    assert terms["adversarial"]["weight"] > {t["type"]: t for t in gan.loss}["adversarial"]["weight"]
    for name in recipe_names():  # packaged recipes name no data: the user's flag does
        assert all(not c.data.train and c.data.val is None for c in load_recipe(name)), name
    (x2,) = load_recipe("cpu-fast-x2")
    assert x2.model.scale == 2 and x2.init_generator == "srresnet-x4"


@pytest.mark.parametrize(
    "recipe_name, model, val",
    [
        ("cpu-fast-srgan", "srgan-x4", "../shared/data/benchmarks/Set5/x4"),
        ("cpu-fast-jpeg", "srresnet-x4-jpeg", None),
        ("cpu-fast-real-srgan", "srgan-x4-real", None),
        ("cpu-fast-real", "srresnet-x4-real", None),
    ],
)
def test_packaged_recipe_is_what_trained_the_shipped_model(recipe_name, model, val):
    """The card records the run's config; the recipe must reproduce it (all but the run folder and
    the validation folder, which was made by `srgan degrade` where ``val`` is None)."""
    import dataclasses
    import json

    from srgan.train.recipes import load_recipe

    card = json.loads((Path(__file__).resolve().parents[1] / f"src/srgan/weights/{model}.json").read_text())
    from srgan.train.config import load_config

    trained = load_config(raw=card["training"]["recipe"])  # the card's flat loss section, converted once to terms
    # srresnet-x4-real's last stage trains on the squared error; every other shipped model's pixel term is L1
    norm = "mse" if model == "srresnet-x4-real" else "l1"
    assert (trained.loss[0]["type"], trained.loss[0]["norm"]) == ("pixel", norm)
    if model == "srgan-x4":  # the card's recipe is its last stage: adversarial with the edge-ringing term
        assert {"adversarial", "ringing"} <= {t["type"] for t in trained.loss}
    *earlier, recipe = load_recipe(
        recipe_name, ["data.train=../shared/data/train", f"data.val={val or trained.data.val}"]
    )
    now, then = (json.loads(json.dumps(dataclasses.asdict(c), default=str)) for c in (recipe, trained))
    now.pop("out_dir"), then.pop("out_dir")
    now.pop("name"), then.pop("name")  # a stage's or recipe's name, the run's name on the card
    if earlier:  # the card's last stage: it started from the model's previous version, the recipe from its stage before
        assert now.pop("init_generator") == earlier[-1].out_dir and then.pop("init_generator") == model
    # `amp: auto` is resolved when a run starts (bf16 on a CPU with bf16 units) and recorded as such
    assert now.pop("amp") == "auto" and then.pop("amp") in ("bf16", "none")
    assert now == then


def test_recipe_overrides_and_errors():
    from srgan.train.recipes import load_recipe

    pre, gan = load_recipe("paper", ["srgan:optim.lr=5e-5", "model.num_blocks=8"])
    assert gan.optim.lr == 5e-5 and pre.optim.lr == 1e-4 and pre.model.num_blocks == gan.model.num_blocks == 8
    with pytest.raises(ConfigError, match="no loss term 'vgg_wieght' \\(terms: vgg, adversarial\\)"):
        load_recipe("paper", ["srgan:loss.vgg_wieght=1"])
    gan, *_ = load_recipe(
        "cpu-fast-srgan", ["loss.shift.weight=5", "loss.lattice=null", "loss.vgg={type: vgg, weight: 0.006}"]
    )
    terms = {t.get("name", t["type"]): t for t in gan.loss}
    assert terms["shift"]["weight"] == 5 and "lattice" not in terms and terms["vgg"] == {"type": "vgg", "weight": 0.006}
    with pytest.raises(ConfigError, match="unknown loss type 'vgg19' \\(did you mean 'vgg'"):
        load_recipe("cpu-fast-srgan", ["loss.perc={type: vgg19}"])
    with pytest.raises(ConfigError, match="no stage named 'gan'"):
        load_recipe("paper", ["gan:optim.lr=1"])
    with pytest.raises(ConfigError, match="not found"):
        load_recipe("no-such-recipe")


def test_samples_are_deterministic_and_step_addressed(tmp_path):
    cache = ImageCache(_dataset(tmp_path), min_size=16)
    ds = RandomCropDataset(cache, scale=2, crop=16, seed=1)
    a, b = ds[5], RandomCropDataset(cache, 2, 16, seed=1)[5]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0].shape == (3, 8, 8) and a[1].shape == (3, 16, 16)
    one = list(StepBatchSampler(4, 0, 3))
    two = [x for r in range(2) for x in StepBatchSampler(2, 0, 3, rank=r, world_size=2)]
    assert sorted(sum(one, [])) == sorted(sum(two, []))  # same global batches for any world size
    assert list(StepBatchSampler(4, 2, 3)) == [one[2]]  # resuming at step 2 replays exactly step 2
    assert [StepBatchSampler(2, 0, 3, world_size=2).first_index(s) for s in range(3)] == [b[0] for b in one]


def test_crop_schedule_gives_smaller_crops_early_and_same_samples_later(tmp_path):
    """Progressive crops (``data.crop_schedule``): samples of the first steps are cut smaller; every
    later sample is the plain dataset's, bit for bit, so the schedule only changes the early steps."""
    cache = ImageCache(_dataset(tmp_path), min_size=16)
    plain = RandomCropDataset(cache, 2, 16, seed=1)
    ds = RandomCropDataset(cache, 2, 16, seed=1, crop_schedule=[(4, 8), (6, 12)])
    assert [ds[k][1].shape[-1] for k in range(8)] == [8, 8, 8, 8, 12, 12, 16, 16]
    assert [ds[k][0].shape[-1] for k in range(8)] == [4, 4, 4, 4, 6, 6, 8, 8]
    assert all(torch.equal(ds[k][1], plain[k][1]) and torch.equal(ds[k][0], plain[k][0]) for k in (6, 7, 20))
    with pytest.raises(ValueError, match="crop 6 must be a multiple of scale 4"):
        RandomCropDataset(cache, 4, 16, crop_schedule=[(4, 6)])

    # the trainer: steps of the first third see 8 px crops (batch 2: samples 0..5), then 16 px
    path = _config(tmp_path, "sched", steps=9)
    raw = yaml.safe_load(path.read_text())
    raw["data"]["crop_schedule"] = [[1 / 3, 8]]
    cfg = load_config(raw=raw)
    assert cfg.data.crop_steps(cfg.steps) == [(3, 8)] and cfg.data.min_crop == 8
    trainer = Trainer(cfg)
    loader, _ = trainer._loader()
    assert [b[1].shape[-1] for b in loader] == [8] * 3 + [16] * 6
    trainer.fit(progress=False)
    assert (tmp_path / "sched" / "checkpoints").exists()
    for bad, msg in [
        ([[0.5, 9]], "multiple of model.scale"),
        ([[0.5, 32]], "up to data.crop"),
        ([[0.6, 8], [0.3, 12]], "increasing"),
        ([[1.5, 8]], "in \\(0, 1\\]"),
        ([0.5], "\\[until, crop\\] pairs"),
    ]:
        raw["data"]["crop_schedule"] = bad
        with pytest.raises(ConfigError, match=msg):
            load_config(raw=raw)


def test_training_learns_and_writes_log(tmp_path):
    cfg = load_config(_config(tmp_path, "run", steps=8))
    metrics = Trainer(cfg).fit(progress=False)
    assert {"psnr", "ssim", "mse"} <= set(metrics)
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == [2, 4, 6, 8]
    assert len(list_checkpoints(tmp_path / "run" / "checkpoints")) == 2  # keep_checkpoints
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(cfg)
    from srgan.train.checkpoint import generator_from_run

    older, newest = list_checkpoints(tmp_path / "run" / "checkpoints")
    g_run, state, path = generator_from_run(tmp_path / "run")
    assert path == newest and state["step"] == 8
    g_file, state7, _ = generator_from_run(older)  # one checkpoint file, e.g. to ship an earlier step
    assert state7["step"] == 7
    assert not torch.equal(g_run.head[0].weight, g_file.head[0].weight)


def _assert_no_process_runs(arg: str, grace: float = 10.0) -> None:
    """No process (a batch helper left by a killed run) has ``arg`` on its command line (Linux)."""
    if not Path("/proc").exists():
        return
    deadline = time.time() + grace
    while True:
        left = []
        for p in Path("/proc").iterdir():
            try:
                if p.name.isdigit() and arg in (p / "cmdline").read_bytes().decode(errors="replace"):
                    left.append(p.name)
            except OSError:
                pass
        if not left or time.time() > deadline:
            break
        time.sleep(0.05)
    assert not left, f"processes of the killed run still alive: {left}"


@pytest.mark.parametrize("degradation", ["bicubic", "realistic"])
def test_resume_after_repeated_sigkill_is_bit_exact(tmp_path, degradation):
    """SIGKILL a real training process at random points several times, resume each time,
    and compare with an uninterrupted run: the weights must be bit-identical (with Real-ESRGAN's
    random degradations too: every draw is a function of (seed, sample index)). With realistic,
    the killed run makes its batches with a helper process, the reference run without: the same
    batches, and no helper outlives a killed run."""
    steps = 24
    ref_cfg = load_config(_config(tmp_path, "ref", steps, degradation))
    Trainer(ref_cfg).fit(progress=False)
    ref = _final_weights(tmp_path / "ref")

    cfg_path = _config(tmp_path, "killed", steps, degradation, helpers=int(degradation == "realistic"))
    cmd = [sys.executable, "-m", "srgan.cli", "train", "--config", str(cfg_path), "--no-progress"]
    ckpts = tmp_path / "killed" / "checkpoints"
    rng = np.random.default_rng(0)
    kills = []
    for target in sorted(rng.choice(np.arange(3, steps - 2), size=3, replace=False)):
        proc = subprocess.Popen(
            cmd + (["--resume"] if kills else []), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.time() + 120
        while time.time() < deadline and not any(int(p.stem.split("_")[1]) >= target for p in list_checkpoints(ckpts)):
            time.sleep(0.01)
        time.sleep(float(rng.uniform(0, 0.05)))  # land anywhere: mid-step or mid-write
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills.append(max(int(p.stem.split("_")[1]) for p in list_checkpoints(ckpts)))
        _assert_no_process_runs(str(cfg_path))
    assert all(k < steps for k in kills), f"every kill should land part-way: {kills}"
    rc = subprocess.run(cmd + ["--resume"], capture_output=True, text=True)
    assert rc.returncode == 0, rc.stderr
    out = _final_weights(tmp_path / "killed")
    assert out["step"] == ref["step"] == steps
    for k, v in ref["stage"]["generator"].items():
        assert torch.equal(v, out["stage"]["generator"][k]), k
    for k, v in ref["ema"]["module"].items():
        assert torch.equal(v, out["ema"]["module"][k]), k
    steps_logged = [int(r["step"]) for r in csv.DictReader((tmp_path / "killed" / "metrics.csv").open())]
    assert steps_logged == sorted(set(steps_logged)), "no duplicated log rows after resume"


@pytest.mark.parametrize("damage", ["truncate", "garbage", "bitflip"])
def test_corrupt_newest_checkpoint_falls_back(tmp_path, damage, caplog):
    cfg = load_config(_config(tmp_path, "c", steps=4))
    Trainer(cfg).fit(progress=False)
    newest = list_checkpoints(tmp_path / "c" / "checkpoints")[-1]
    data = bytearray(newest.read_bytes())
    if damage == "truncate":
        newest.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        newest.write_bytes(os.urandom(len(data)))
    elif damage == "bitflip":  # still a loadable zip/pickle: only the checksum can tell
        data[len(data) - 2000] ^= 0x01
        newest.write_bytes(bytes(data))
    state, path = load_latest_checkpoint(tmp_path / "c" / "checkpoints")
    assert path != newest and state["step"] == 3
    assert "falling back to the previous one" in caplog.text
    t = Trainer(cfg, resume=True)
    assert t.step == 3
    t.fit(progress=False)
    assert load_latest_checkpoint(tmp_path / "c" / "checkpoints")[0]["step"] == 4


def test_checkpoint_carries_its_digest_and_legacy_files_load_only_when_trusted(tmp_path, caplog):
    from srgan.train.checkpoint import MAGIC

    cfg = load_config(_config(tmp_path, "nd", steps=2))
    Trainer(cfg).fit(progress=False)
    newest = list_checkpoints(tmp_path / "nd" / "checkpoints")[-1]
    data = newest.read_bytes()
    assert data.startswith(MAGIC) and not list((tmp_path / "nd" / "checkpoints").glob("*.sha256"))
    newest.write_bytes(data[len(MAGIC) + 65 :])  # a plain torch.save file, as older versions wrote
    state, path = load_latest_checkpoint(tmp_path / "nd" / "checkpoints")
    assert state["step"] == 1 and "no embedded SHA-256" in caplog.text, "unverifiable: the previous checkpoint is used"
    state, path = load_latest_checkpoint(tmp_path / "nd" / "checkpoints", trust_unverified=True)
    assert path == newest and state["step"] == 2 and "loading it unverified" in caplog.text


def test_disk_full_while_saving_keeps_previous_checkpoint(tmp_path, monkeypatch):
    import srgan.train.checkpoint as ck

    cfg = load_config(_config(tmp_path, "full", steps=3))
    t = Trainer(cfg)
    t.fit(progress=False)
    before = {p.name: p.read_bytes() for p in (tmp_path / "full" / "checkpoints").iterdir()}
    real_fsync = os.fsync

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ck.os, "fsync", full_disk)
    t.step = 99
    with pytest.raises(OSError, match="No space left"):
        t.save()
    monkeypatch.setattr(ck.os, "fsync", real_fsync)
    after = {p.name: p.read_bytes() for p in (tmp_path / "full" / "checkpoints").iterdir()}
    assert after == before  # nothing half-written, no temp files left, old checkpoints intact
    assert load_latest_checkpoint(tmp_path / "full" / "checkpoints")[0]["step"] == 3


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    cfg_path = _config(tmp_path, "int", steps=100000)
    cmd = [
        sys.executable,
        "-m",
        "srgan.cli",
        "train",
        "--config",
        str(cfg_path),
        "--no-progress",
        "--set",
        "ckpt_every=1000000",
        "--set",
        "val_every=1000000",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    log = tmp_path / "int" / "metrics.csv"
    while time.time() < deadline and not (log.exists() and len(log.read_text().splitlines()) >= 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "saved a checkpoint" in err and "Traceback" not in err
    state, _ = load_latest_checkpoint(tmp_path / "int" / "checkpoints")
    assert state["step"] >= 4


def test_two_stage_recipe_end_to_end_and_plot(tmp_path):
    """SRResNet then SRGAN-MSE initialised from it, through the CLI; then `srgan plot`."""
    from srgan.cli import main

    data = _dataset(tmp_path / "d")
    recipe = {
        "base": {
            "seed": 0,
            "threads": 1,
            "log_every": 1,
            "val_every": 2,
            "ckpt_every": 2,
            "ema_decay": None,
            "tensorboard": False,
            "model": {"scale": 2, "num_blocks": 1, "channels": 8},
            "data": {"train": [str(data)], "val": str(data), "crop": 16, "batch_size": 2},
            "optim": {"lr": 1e-3},
        },
        "stages": [
            {"name": "pre", "stage": "srresnet", "steps": 3, "loss": {"pixel": "mse"}},
            {
                "name": "gan",
                "stage": "srgan",
                "steps": 2,
                "init_generator": "{previous}",
                "loss": {"pixel": "mse", "adversarial_weight": 1e-3},
            },
        ],
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "runs"
    assert main(["train", "--recipe", str(path), "--out", str(out), "--no-progress"]) == 0
    pre = load_latest_checkpoint(out / "pre" / "checkpoints")[0]
    gan_rows = list(csv.DictReader((out / "gan" / "metrics.csv").open()))
    assert pre["step"] == 3 and len(gan_rows) == 2
    assert all(float(r["loss_d"]) > 0 and 0 <= float(r["d_real"]) <= 1 for r in gan_rows)
    # resuming a finished recipe skips its stages
    assert main(["train", "--recipe", str(path), "--out", str(out), "--no-progress", "--resume"]) == 0
    assert main(["plot", str(out / "gan")]) == 0
    for name in ("psnr.png", "ssim.png", "mse.png", "losses.png"):
        png = out / "gan" / "plots" / name
        assert png.stat().st_size > 5000
        assert Image.open(png).size[0] > 100


def test_tensorboard_scalars_and_image_grids(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = load_config(_config(tmp_path, "tb", steps=4), ["tensorboard=true"])
    Trainer(cfg).fit(progress=False)
    acc = EventAccumulator(str(tmp_path / "tb" / "tensorboard"), size_guidance={"images": 0})
    acc.Reload()
    tags = acc.Tags()
    assert {"loss_g", "psnr", "ssim", "mse"} <= set(tags["scalars"])
    assert [e.step for e in acc.Scalars("psnr")] == [4]
    img_tags = [t for t in tags["images"] if t.startswith("val/")]
    assert img_tags
    im = acc.Images(img_tags[0])[0]
    assert im.width == 4 * 56 and im.height in (48, 56, 64)  # LR | bicubic | SR | HR side by side


def test_cache_and_lazy_files_give_identical_samples(tmp_path):
    from srgan.data import ImageFiles

    root = _dataset(tmp_path)
    a = RandomCropDataset(ImageCache(root, 16), 2, 16, seed=4)
    b = RandomCropDataset(ImageFiles(root, 16), 2, 16, seed=4)
    for k in (0, 7, 100):
        assert torch.equal(a[k][1], b[k][1])


def test_bf16_autocast_path_runs_on_cpu(tmp_path):
    cfg = load_config(_config(tmp_path, "amp", steps=2), ["amp=bf16", "stage=srgan"])
    Trainer(cfg).fit(progress=False)
    rows = list(csv.DictReader((tmp_path / "amp" / "metrics.csv").open()))
    assert all(np.isfinite(float(r["loss_g"])) and float(r["loss_d"]) > 0 for r in rows)
    with pytest.raises(ConfigError, match="fp16 needs CUDA"):
        Trainer(load_config(_config(tmp_path, "amp16", steps=2), ["amp=fp16", "device=cpu"]))


def test_nan_loss_stops_with_step(tmp_path):
    cfg = load_config(_config(tmp_path, "nan", steps=4))
    t = Trainer(cfg)
    with torch.no_grad():
        t.generator.tail.bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="step 1"):
        t.fit(progress=False)


def test_init_generator_from_another_scale_transfers_trunk_and_tail(tmp_path):
    from srgan.hub import save_generator
    from srgan.models import Generator
    from srgan.train.trainer import load_initial_generator

    torch.manual_seed(0)
    x4 = Generator(4, 2, 8)
    save_generator(x4, tmp_path / "x4.safetensors")
    x2 = Generator(2, 2, 8)
    load_initial_generator(str(tmp_path / "x4.safetensors"), x2)
    for name in (
        "head.0.weight",
        "body.1.conv2.weight",
        "body_end.1.running_var",
        "tail.weight",
        "upsample.0.conv.weight",
        "upsample.0.prelu.weight",
    ):
        assert torch.equal(x2.state_dict()[name], x4.state_dict()[name]), name
    save_generator(x2, tmp_path / "x2.safetensors")
    x8 = Generator(8, 2, 8)
    load_initial_generator(str(tmp_path / "x2.safetensors"), x8)  # extra blocks repeat the last one
    assert all(torch.equal(x8.upsample[i].conv.weight, x2.upsample[0].conv.weight) for i in range(3))
    with pytest.raises(ConfigError, match="do not fit"):
        load_initial_generator(str(tmp_path / "x4.safetensors"), Generator(2, 3, 8))  # other depth: no


def test_time_budget_plans_steps_from_a_probe_and_scales_warmup(tmp_path):
    from srgan.train.budget import plan_steps, probe_seconds_per_step, seconds_per_step

    log = tmp_path / "metrics.csv"
    log.write_text("step,loss_g,wall\n10,0.5,100.0\n20,0.4,108.0\n30,0.3,110.0\n40,0.3,112.0\n50,0.3,114.0\n")
    assert seconds_per_step(log) == pytest.approx(
        0.2
    )  # second half: (114 - 110) / (50 - 30); the slow start is left out
    cfg = load_config(_config(tmp_path, "budget", steps=8))  # warm-up 2 of 8 steps
    planned = plan_steps(cfg, minutes=1.0, per_step=0.5, margin=0.1)
    assert planned.steps == 108 and planned.optim.warmup_steps == 27  # 60 s x 0.9 / 0.5; 25% warm-up
    assert planned.val_every == 4 and cfg.steps == 8  # the original config is untouched
    per_step = probe_seconds_per_step(cfg, steps=6)
    assert 0 < per_step < 5
    assert not (tmp_path / "budget").exists()  # the probe trains in a scratch folder


class _BlasThreads(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> int:
        from threadpoolctl import threadpool_info

        return max((p["num_threads"] for p in threadpool_info()), default=0)


def test_loader_workers_run_single_threaded():
    """N workers x N cores BLAS threads starved the loader on a 16-core host: each worker gets one."""
    from srgan.train.trainer import single_threaded_worker

    loader = torch.utils.data.DataLoader(
        _BlasThreads(), batch_size=None, num_workers=1, worker_init_fn=single_threaded_worker
    )
    assert [int(n) for n in loader] == [1, 1]


def test_one_stage_config_takes_steps_factor_and_out(tmp_path):
    """Regression: a config without `stages` used to ignore --steps-factor and --out silently."""
    from srgan.train.recipes import load_recipe

    path = _config(tmp_path, "single", steps=1000)
    (cfg,) = load_recipe(str(path), steps_factor=0.1, out=str(tmp_path / "elsewhere"))
    assert cfg.steps == 100 and cfg.out_dir == str(tmp_path / "elsewhere")
    staged = tmp_path / "staged.yaml"
    staged.write_text(yaml.safe_dump({"base": yaml.safe_load(path.read_text()), "stages": [{"name": "a"}]}))
    (a,) = load_recipe(str(staged), steps_factor=0.1, out=str(tmp_path / "root"))
    assert a.steps == 100 and a.out_dir == str(tmp_path / "root" / "a")


def test_train_without_data_says_how_to_give_it(tmp_path, capsys):
    from srgan.cli import main

    assert main(["train", "--recipe", "cpu-fast-x2", "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    assert "no training images: pass --data FOLDER" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_cli_minutes_fits_one_stage_and_resume_keeps_its_plan(tmp_path, capsys):
    from srgan.cli import main

    path = _config(tmp_path, "timed", steps=1000)
    args = ["train", "--config", str(path), "--minutes", "0.05", "--no-progress", "--set", "val_every=1000000"]
    assert main(args) == 0
    out = capsys.readouterr().out
    planned = int(out.split(" steps (warm-up")[0].rsplit(" ", 1)[1])
    assert 1 <= planned < 1000 and f"{planned} steps" in out
    assert load_latest_checkpoint(tmp_path / "timed" / "checkpoints")[0]["step"] == planned
    assert main([*args, "--resume"]) == 0
    assert "already complete" in capsys.readouterr().out
    assert main(["train", "--recipe", "cpu-fast", "--minutes", "1", "--data", str(tmp_path)]) == 2
    assert "--minutes budgets one stage: pick it with --stage" in capsys.readouterr().err
