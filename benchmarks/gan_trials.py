"""Short SRGAN-stage trials from a trained SRResNet: PSNR cost, grid artefacts, sharpness.

    python benchmarks/gan_trials.py --steps 150 [--recipe cpu-fast-srgan] \
        --trial "base=" --trial "shift=d_random_shift=4" --trial "lattice=d_random_shift=4,loss.lattice_weight=1"

Each trial trains the recipe's SRGAN stage for ``--steps`` steps with its overrides
(``NAME=KEY=VALUE[,KEY=VALUE...]``), then compares its raw generator with the recipe's
``init_generator`` on four Set14 x4 images (baboon, comic, monarch, zebra):
  dPSNR     mean Y-PSNR change (dB) against the initial model
  grid      per image, luma power at the period-2/4 lattice frequencies over HR's
            (benchmarks/artifacts.py); the initial model's values are printed once
  sharpness mean gradient energy over HR's (1.0 = as sharp as the ground truth)
  colour    worst per-image mean colour shift against HR (8-bit levels)
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alpha_curve import gradient_energy  # noqa: E402
from artifacts import colour_shift, periodic_power  # noqa: E402

from srgan.api import SRModel, from_pretrained  # noqa: E402
from srgan.metrics import evaluate_pair  # noqa: E402
from srgan.train import Trainer  # noqa: E402
from srgan.train.recipes import load_recipe  # noqa: E402

IMAGES = ("img_001", "img_005", "img_011", "img_014")


def scores(model: SRModel, bench: Path) -> np.ndarray:
    rows = []
    for name in IMAGES:
        lr = np.asarray(Image.open(bench / "Set14" / "x4" / "LR" / f"{name}.png").convert("RGB"))
        hr = np.asarray(Image.open(bench / "Set14" / "x4" / "HR" / f"{name}.png").convert("RGB"))
        sr = model.upscale(lr)
        rows.append([evaluate_pair(sr, hr, 4)["psnr"], periodic_power(sr) / periodic_power(hr), gradient_energy(sr, 4) / gradient_energy(hr, 4), colour_shift(sr, hr)])
    return np.array(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="cpu-fast-srgan")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--bench", default="../shared/data/benchmarks")
    ap.add_argument("--trial", action="append", required=True, metavar="NAME=OVERRIDES")
    args = ap.parse_args()
    bench = Path(args.bench)
    base_cfg = load_recipe(args.recipe)[-1]
    init = scores(from_pretrained(base_cfg.init_generator, device="cpu"), bench)
    print(f"{base_cfg.init_generator}: grid {init[:, 1].round(2).tolist()}, sharpness {init[:, 2].mean():.3f}, colour {init[:, 3].max():.2f}\n")
    print("| trial | overrides | dPSNR (dB) | grid per image | sharpness | colour shift |")
    print("|---|---|---:|---|---:|---:|")
    for trial in args.trial:
        name, _, spec = trial.partition("=")
        overrides = [o for o in spec.split(",") if o]
        with tempfile.TemporaryDirectory() as tmp:
            cfg = load_recipe(args.recipe, overrides + [f"steps={args.steps}", "val_every=1000000", "ckpt_every=1000000", "tensorboard=false", f"out_dir={tmp}/run"])[-1]
            trainer = Trainer(cfg)
            trainer.fit(progress=False)
            s = scores(SRModel(trainer.generator.cpu(), {"name": name}, device="cpu"), bench)
        print(f"| {name} | {' '.join(overrides) or '(recipe)'} | {(s[:, 0] - init[:, 0]).mean():+.2f} | {s[:, 1].round(2).tolist()} | {s[:, 2].mean():.3f} | {s[:, 3].max():.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
