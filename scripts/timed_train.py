"""Train one stage for a fixed wall-clock budget, then export its EMA generator.

    python scripts/timed_train.py --recipe cpu-fast --stage srresnet-crop192 --minutes 8 \
        --set init_generator=srresnet-x4 --set amp=bf16 --set data.num_workers=12 \
        --set data.batch_size=16 --set "data.train=[data/train]" --set data.val=data/Set5/x4 --out OUT

For a machine lent for a few minutes (a GPU): the cosine schedule must end when the time does.

1. A probe trains ``--probe-steps`` steps in a scratch folder; the seconds per step come from
   its metrics rows (so start-up, cuDNN autotuning and data indexing are left out).
2. The real run gets ``steps = budget / seconds-per-step`` (minus ``--margin`` for validation
   and checkpoints), its warm-up scaled to the same fraction as in the recipe, and runs in
   ``--run-dir`` (resumable with the same command plus ``--resume``, which reuses its steps).
3. ``OUT/<name>.safetensors`` gets the EMA generator with its training config as metadata (as
   ``srgan export-weights``), and ``OUT/metrics.csv`` the run's log. Checkpoints, which hold the
   optimiser state, stay in the run folder. ``scripts/package_model.py`` accepts that file.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from srgan.hub import save_generator  # noqa: E402
from srgan.train import Trainer  # noqa: E402
from srgan.train.budget import plan_steps, probe_seconds_per_step, with_steps  # noqa: E402
from srgan.train.recipes import load_recipe  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", required=True, help="packaged recipe name or YAML file")
    ap.add_argument("--stage", help="stage name (default: the recipe's last)")
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE override (YAML value)")
    ap.add_argument("--minutes", type=float, help="wall-clock budget of the real run")
    ap.add_argument("--steps", type=int, help="a fixed step count instead of a budget (no probe): to repeat a timed run")
    ap.add_argument("--probe-steps", type=int, default=60)
    ap.add_argument("--margin", type=float, default=0.08, help="fraction of the budget kept for validation and checkpoints")
    ap.add_argument("--run-dir", default="runs/timed")
    ap.add_argument("--out", required=True, help="folder for the exported model and log")
    ap.add_argument("--name", default="timed")
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()

    stages = load_recipe(args.recipe, args.set)
    cfg = next((c for c in stages if c.name == args.stage), None) if args.stage else stages[-1]
    if cfg is None:
        raise SystemExit(f"no stage '{args.stage}' in {args.recipe} (stages: {', '.join(c.name for c in stages)})")
    cfg.out_dir = args.run_dir
    saved = Path(args.run_dir) / "config.json"
    if args.resume and saved.is_file():
        planned = json.loads(saved.read_text())
        cfg.steps, cfg.optim.warmup_steps = planned["steps"], planned["optim"]["warmup_steps"]
        print(f"resuming {args.run_dir}: {cfg.steps} steps as planned")
    elif args.steps:
        cfg = with_steps(cfg, args.steps)
    else:
        if not args.minutes:
            raise SystemExit("give --minutes (a budget) or --steps")
        t = time.perf_counter()
        per_step = probe_seconds_per_step(cfg, args.probe_steps)
        cfg = plan_steps(cfg, args.minutes, per_step, args.margin)
        print(f"probe: {per_step * 1000:.1f} ms/step ({time.perf_counter() - t:.0f} s in all); "
              f"planned {cfg.steps} steps, warm-up {cfg.optim.warmup_steps}, for {args.minutes} min")
    t = time.perf_counter()
    trainer = Trainer(cfg, resume=args.resume)
    trainer.fit(progress=False)
    print(f"trained {cfg.steps} steps in {(time.perf_counter() - t) / 60:.2f} min")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"name": args.name, "training": {"recipe": json.loads(saved.read_text()), "steps": cfg.steps,
                                            "ema": cfg.ema_decay > 0, "minutes": round((time.perf_counter() - t) / 60, 2)}}
    save_generator(trainer.eval_model().cpu(), out / f"{args.name}.safetensors", meta)
    shutil.copy(Path(args.run_dir) / "metrics.csv", out / "metrics.csv")
    print(f"wrote {out / args.name}.safetensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
