"""Controlled training ablations at a fixed CPU-time budget (for the cpu-fast recipe).

    python benchmarks/ablate.py --train ../shared/data/train --bench ../shared/data/benchmarks \
        --minutes 10 --variant base --variant "l1=loss.pixel=l1" --variant "b8=model.num_blocks=8" ...

Each variant is ``NAME=KEY=VALUE[,KEY=VALUE...]`` overriding the base config (B=16,
96 px, batch 16, L1, cosine lr 3e-4, EMA 0.999, channels_last: cpu-fast's first stage). Every run trains for the same
wall-clock budget (the step count is estimated from a short timing run so the
cosine schedule ends on time), then Set5/Set14 x4 PSNR of its EMA weights is
measured with the standard protocol. Prints one Markdown row per variant.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from srgan.api import SRModel
from srgan.evaluate import evaluate_set, model_method
from srgan.train import Trainer, load_config
from srgan.train.budget import plan_steps, probe_seconds_per_step

BASE = {
    "steps": 1000, "log_every": 25, "val_every": 10**9, "ckpt_every": 10**9, "threads": 2, "tensorboard": False, "ema_decay": 0.999,
    "model": {"scale": 4, "num_blocks": 16}, "data": {"crop": 96, "batch_size": 16},
    "optim": {"lr": 3e-4, "schedule": "cosine", "warmup_steps": 100, "min_lr": 1e-6}, "loss": {"pixel": "l1"},  # warm-up: 10% of the run
}


def run(name: str, overrides: list[str], train: str, bench: str, minutes: float) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(raw={**BASE, "out_dir": f"{tmp}/run", "data": {**BASE["data"], "train": [train]}}, overrides=overrides)
        cfg = plan_steps(cfg, minutes, probe_seconds_per_step(cfg, 24), margin=0.0)
        steps = cfg.steps
        trainer = Trainer(cfg)
        t = time.perf_counter()
        trainer.fit(progress=False)
        wall = (time.perf_counter() - t) / 60
        model = SRModel(trainer.eval_model().cpu(), {"name": name}, device="cpu")
        res = [evaluate_set(Path(bench) / s, 4, [model_method(name, model)]).mean(name) for s in ("Set5", "Set14")]
    return f"| {name} | {' '.join(overrides) or '(base)'} | {steps} | {wall:.1f} | {res[0]['psnr']:.2f} | {res[1]['psnr']:.2f} |"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--variant", action="append", default=["base"])
    args = ap.parse_args()
    torch.set_num_threads(2)
    print(f"budget {args.minutes} CPU minutes per variant; Set5/Set14 x4 PSNR (Y, shave 4) of the EMA weights\n")
    print("| variant | overrides | steps | minutes | Set5 | Set14 |")
    print("|---|---|---:|---:|---:|---:|")
    for v in args.variant:
        name, _, rest = v.partition("=")
        print(run(name, [o for o in rest.split(",") if o], args.train, args.bench, args.minutes), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
