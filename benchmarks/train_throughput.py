"""Training throughput of the SRResNet stage through the real Trainer and data loader.

    python benchmarks/train_throughput.py --train ../shared/data/train [--blocks 16] [--steps 40]

Reports steps/s and the share of wall time spent waiting for data (from the
run's metrics.csv: data_time vs step_time per logged window).
"""
from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, help="folder of HR training images")
    ap.add_argument("--blocks", type=int, default=16)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()

    from srgan.train import Trainer, load_config

    with tempfile.TemporaryDirectory() as tmp:
        warm = 5
        cfg = load_config(raw={
            "out_dir": tmp, "steps": args.steps + warm, "log_every": warm, "val_every": 10**9, "ckpt_every": 10**9,
            "threads": args.threads, "model": {"num_blocks": args.blocks},
            "data": {"train": [args.train], "crop": args.crop, "batch_size": args.batch, "num_workers": args.workers},
        })
        Trainer(cfg).fit(progress=False)
        rows = list(csv.DictReader((Path(tmp) / "metrics.csv").open()))[1:]  # drop the warm-up window
    data_t = sum(float(r["data_time"]) for r in rows) / len(rows)
    step_t = sum(float(r["step_time"]) for r in rows) / len(rows)
    print("| B | batch | crop | threads | workers | steps/s | data share |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {args.blocks} | {args.batch} | {args.crop} | {args.threads} | {args.workers} | {1 / (data_t + step_t):.3f} | {data_t / (data_t + step_t):.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
