"""Training throughput through the real Trainer and data loader.

    python benchmarks/train_throughput.py --train ../shared/data/train \
        [--stage srresnet|srgan] [--vgg] [--blocks 16] [--steps 20] [--workers 0]

Reports steps/s and the share of wall time spent waiting for data (from the
run's metrics.csv: data_time vs step_time per logged window, warm-up dropped).
With ``--vgg`` the VGG19 loss uses random weights (speed does not depend on them;
ImageNet weights cannot be downloaded here).

    python benchmarks/train_throughput.py --train ../shared/data/train --per-sample 200

instead times the data side alone: milliseconds per LR training sample (crop, augment, degrade, to
tensors; one thread, as the trainer's in-process batches) for bicubic, every preset of
``srgan.degradations`` and the ``cpu-fast-real`` mix. To compare with an older checkout, run it
with ``PYTHONPATH=OLD/src``.
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
    ap.add_argument("--stage", choices=["srresnet", "srgan"], default="srresnet")
    ap.add_argument("--vgg", action="store_true", help="add the VGG19 (relu5_4) content loss")
    ap.add_argument("--blocks", type=int, default=16)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--helpers", default="auto", help="data.batch_helpers (with --workers 0): auto, 0, 1, ...")
    ap.add_argument("--no-cache", action="store_true", help="decode per sample instead of the in-memory cache")
    ap.add_argument("--degradation", default="bicubic", help="data.degradation: bicubic, realistic, jpeg, ...")
    ap.add_argument("--amp", default="none", help="none | bf16 | auto")
    ap.add_argument(
        "--step-threads-for-data",
        action="store_true",
        help="make in-process batches with the step's thread pools (the trainer before batches_in_process)",
    )
    ap.add_argument("--header", action="store_true", help="print the table header")
    ap.add_argument("--per-sample", type=int, metavar="N", help="time N samples of each degradation instead")
    args = ap.parse_args()
    if args.per_sample:
        return per_sample_table(args.train, args.crop, args.per_sample)

    import srgan.losses.functional as functional
    from srgan.hardware import tune_allocator

    tune_allocator()  # as `srgan train` does (SRGAN_MALLOC=system: glibc's defaults)
    from srgan.train import Trainer, load_config

    if args.step_threads_for_data:
        import srgan.train.trainer as trainer_module

        trainer_module.batches_in_process = lambda loader: loader
        args.helpers = "0"  # the trainer of that time: no helpers either

    if args.vgg:
        functional.load_vgg19_weights = lambda path=None: None  # random VGG19: same cost
    warm = 3
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(
            raw={
                "out_dir": tmp,
                "stage": args.stage,
                "steps": args.steps + warm,
                "log_every": warm,
                "val_every": 10**9,
                "ckpt_every": 10**9,
                "threads": args.threads,
                "tensorboard": False,
                "amp": args.amp,
                "model": {"num_blocks": args.blocks},
                "data": {
                    "train": [args.train],
                    "crop": args.crop,
                    "batch_size": args.batch,
                    "num_workers": args.workers,
                    "batch_helpers": args.helpers if args.helpers == "auto" else int(args.helpers),
                    "cache": not args.no_cache,
                    "degradation": args.degradation,
                },
                "loss": {"pixel": "mse", "vgg_weight": 6e-3 if args.vgg else 0.0},
            }
        )
        Trainer(cfg).fit(progress=False)
        rows = list(csv.DictReader((Path(tmp) / "metrics.csv").open()))[1:]  # drop the warm-up window
    n = [args.steps % warm or warm if i == len(rows) - 1 else warm for i in range(len(rows))]
    data_t = sum(float(r["data_time"]) * k for r, k in zip(rows, n)) / sum(n)
    step_t = sum(float(r["step_time"]) * k for r, k in zip(rows, n)) / sum(n)
    if args.header:
        print(
            "| stage | VGG | B | batch | crop | degradation | precision | threads | workers | helpers | cache "
            "| steps/s | data share |"
        )
        print("|---|---|---:|---:|---:|---|---|---:|---:|---:|---|---:|---:|")
    print(
        f"| {args.stage} | {'yes' if args.vgg else 'no'} | {args.blocks} | {args.batch} | {args.crop} | "
        f"{args.degradation} | {rows[-1].get('precision', '?')} | "
        f"{args.threads} | {args.workers} | {'-' if args.workers else args.helpers} | "
        f"{'no' if args.no_cache else 'yes'} | {1 / (data_t + step_t):.3f} | {data_t / (data_t + step_t):.1%} |"
    )
    return 0


def per_sample_table(train: str, crop: int, samples: int, repeats: int = 2) -> int:
    """Milliseconds per sample of ``RandomCropDataset`` with each degradation (the fastest of ``repeats``)."""
    import time

    import torch

    from srgan.data import ImageCache, RandomCropDataset
    from srgan.degradations import PRESETS, build_degradation
    from srgan.hardware import cpu_name

    mix = {"type": "mix", "options": ["realistic", {"type": "jpeg", "quality": [30, 95]}], "probs": [0.6, 0.4]}
    specs = {"bicubic": None, **{n: n for n in PRESETS}, "cpu-fast-real mix": mix}
    torch.set_num_threads(1)
    cache = ImageCache([train], min_size=crop)
    best = dict.fromkeys(specs, float("inf"))
    for _ in range(repeats):
        for name, spec in specs.items():
            ds = RandomCropDataset(cache, 4, crop, True, 0, None if spec is None else build_degradation(spec))
            for k in range(8):  # warm-up
                ds[k]
            t = time.perf_counter()
            for k in range(8, 8 + samples):
                ds[k]
            best[name] = min(best[name], (time.perf_counter() - t) / samples * 1e3)
    print(f"{cpu_name()}, torch {torch.__version__}, 1 thread, {crop} px crops")
    print("| degradation | ms per sample |\n|---|---:|")
    for name, ms in best.items():
        print(f"| {name} | {ms:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
