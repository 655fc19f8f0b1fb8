"""Quality at equal steps: the same recipe stage trained in fp32 and in each faster mode.

    python benchmarks/amp_quality.py --train ../shared/data/train --val ../shared/data/benchmarks/Set5/x4 \
        --recipe cpu-fast --stage srresnet --steps 600 [--modes fp32 fast bf16+fast] [--out runs/amp-quality]
        [--crop-schedule 0.33:48]

Each mode trains the recipe's stage (steps rescaled with the recipe's --steps-factor rule, so the
schedule keeps its shape) from the same seed, in turn, on this machine. Modes: ``fp32``
(amp none, unfused tail), ``fast`` (fp32, ``fused_tail``), ``bf16`` (``amp: bf16``), ``bf16+fast``
(what ``amp: auto`` runs on a CPU with bf16 units); a ``+crops`` mode adds ``--crop-schedule``
(``data.crop_schedule``: smaller HR crops early in the run). Prints the validation PSNR (EMA weights, Y channel)
at every validation step per mode, its difference from fp32, and the compute seconds per step
(:func:`seconds_per_step`: median per crop phase).
Runs are kept under --out, and a finished mode is read back rather than trained again.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

MODES = {  # amp, fused tail, crop schedule
    "fp32": ("none", False, False),
    "fast": ("none", True, False),
    "bf16": ("bf16", False, False),
    "bf16+fast": ("bf16", True, False),
    "fast+crops": ("none", True, True),
    "bf16+fast+crops": ("bf16", True, True),
}


def run_mode(args: argparse.Namespace, mode: str) -> list[dict[str, str]]:
    from srgan.train import Trainer
    from srgan.train.recipes import load_recipe

    amp, fused, crops = MODES[mode]
    schedule = crop_schedule(args) if crops else []
    tag = "-".join(f"{f:g}:{c}" for f, c in schedule)
    out = Path(args.out) / f"{args.recipe}-{args.stage}-{args.steps}" / (f"{mode}-{tag}" if crops else mode)
    metrics = out / "metrics.csv"
    overrides = [
        f"data.train={json.dumps(args.train)}",
        f"data.val={json.dumps(args.val)}",
        f"amp={amp}",
        f"fused_tail={str(fused).lower()}",
        "tensorboard=false",
        f"data.crop_schedule={json.dumps(schedule)}",
    ]
    stages = load_recipe(args.recipe, overrides)
    cfg = next((c for c in stages if c.name == args.stage), None)
    if cfg is None:
        sys.exit(f"recipe {args.recipe} has no stage {args.stage} ({', '.join(c.name for c in stages)})")
    factor = args.steps / cfg.steps
    cfg = next(
        c for c in load_recipe(args.recipe, overrides, steps_factor=factor, out=str(out)) if c.name == args.stage
    )
    cfg.out_dir = str(out)
    cfg.val_every = args.val_every
    done = metrics.exists() and any(r["step"] == str(cfg.steps) for r in csv.DictReader(metrics.open()))
    if not done:
        Trainer(cfg, resume=(out / "checkpoints").exists()).fit(progress=False)
    return list(csv.DictReader(metrics.open()))


def crop_schedule(args: argparse.Namespace) -> list[list]:
    """``--crop-schedule UNTIL:CROP ...`` as ``data.crop_schedule``: [[until, crop], ...]."""
    return [[float(f), int(c)] for f, c in (e.split(":") for e in args.crop_schedule)]


def crop_bounds(args: argparse.Namespace, mode: str) -> list[float]:
    """The steps at which a mode's crop schedule changes crop (none without ``+crops``)."""
    return [until * args.steps for until, _ in crop_schedule(args)] if MODES[mode][2] else []


def seconds_per_step(rows: list[dict[str, str]], steps: int, bounds: list[float]) -> float:
    """Compute seconds per step over the run: the median step time of the logged intervals in
    each crop phase (split at ``bounds``), weighted by the phase's share of the steps. The median
    keeps a burst of another process on the machine from counting; per phase, because a
    schedule's small-crop steps and full-crop steps differ by design."""
    edges = [0.0, *bounds, float(steps)]
    total = 0.0
    for lo, hi in zip(edges, edges[1:]):
        times = [float(r["step_time"]) for r in rows if r.get("step_time") and lo < int(r["step"]) <= hi]
        if times:
            total += statistics.median(times) * (hi - lo) / steps
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", action="append", required=True, help="folder of HR training images (repeatable)")
    ap.add_argument("--val", required=True, help="validation folder (HR/ + LR/)")
    ap.add_argument("--recipe", default="cpu-fast")
    ap.add_argument("--stage", default="srresnet", help="the recipe stage to train")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--val-every", type=int, default=100)
    ap.add_argument("--modes", nargs="+", default=["fp32", "fast", "bf16+fast"], choices=list(MODES))
    ap.add_argument("--out", default="runs/amp-quality")
    ap.add_argument(
        "--crop-schedule",
        nargs="+",
        default=["0.33:48"],
        metavar="UNTIL:CROP",
        help="the +crops modes' data.crop_schedule: CROP px HR crops until that fraction of the steps",
    )
    args = ap.parse_args()
    if args.modes[0] != "fp32":
        ap.error("--modes must start with fp32 (the reference)")

    from srgan.hardware import isa_report, tune_allocator

    tune_allocator()  # as `srgan train` does
    print(f"machine: {isa_report()}")
    rows = {m: run_mode(args, m) for m in args.modes}
    psnr = {m: {int(r["step"]): float(r["psnr"]) for r in rs if r.get("psnr")} for m, rs in rows.items()}
    step_time = {m: seconds_per_step(rs, args.steps, crop_bounds(args, m)) for m, rs in rows.items()}
    others = args.modes[1:]
    print(f"\n{args.recipe} / {args.stage}, {args.steps} steps, validation PSNR (dB) on {args.val}\n")
    print("| step | " + " | ".join(args.modes) + " | " + " | ".join(f"{m} - fp32" for m in others) + " |")
    print("|---:|" + "---:|" * (2 * len(args.modes) - 1))
    for step in sorted(psnr["fp32"]):
        vals = [psnr[m].get(step) for m in args.modes]
        cells = [f"{v:.3f}" if v is not None else "-" for v in vals]
        cells += [f"{v - vals[0]:+.3f}" if v is not None else "-" for v in vals[1:]]
        print(f"| {step} | " + " | ".join(cells) + " |")
    times = " | ".join(f"{step_time[m]:.3f}" for m in args.modes)
    print(f"| s/step (median per crop phase) | {times} |" + " |" * len(others))
    return 0


if __name__ == "__main__":
    sys.exit(main())
