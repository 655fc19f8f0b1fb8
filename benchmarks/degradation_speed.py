"""Cost of making one LR training sample with each degradation, in the loader's single thread.

    python benchmarks/degradation_speed.py --train ../shared/data/train [--crop 96] [--samples 300]

Draws ``--samples`` crops of the training images through ``RandomCropDataset`` (crop, flip/rotate,
degrade, to tensors), one intra-op thread as in the trainer's in-process batches, and prints the
milliseconds per sample for bicubic and every preset of ``srgan.degradations``, plus the
``cpu-fast-real`` mix. To compare with an older checkout, run the same script with
``PYTHONPATH=OLD/src``.
"""

from __future__ import annotations

import argparse
import time

import torch

from srgan.data import ImageCache, RandomCropDataset
from srgan.degradations import PRESETS, build_degradation
from srgan.hardware import cpu_name

MIX = {"type": "mix", "options": ["realistic", {"type": "jpeg", "quality": [30, 95]}], "probs": [0.6, 0.4]}


def per_sample_ms(ds: RandomCropDataset, samples: int, start: int = 0) -> float:
    for k in range(start, start + 8):  # warm-up
        ds[k]
    t = time.perf_counter()
    for k in range(start + 8, start + 8 + samples):
        ds[k]
    return (time.perf_counter() - t) / samples * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, help="folder of HR training images")
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=2, help="rounds over all degradations (the fastest is kept)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cache = ImageCache([args.train], min_size=args.crop)
    names = ["bicubic", *PRESETS, "cpu-fast-real mix"]
    best = {n: float("inf") for n in names}
    for _ in range(args.repeats):
        for n in names:
            spec = MIX if n == "cpu-fast-real mix" else n
            ds = RandomCropDataset(cache, 4, args.crop, True, 0, None if n == "bicubic" else build_degradation(spec))
            best[n] = min(best[n], per_sample_ms(ds, args.samples))
    print(f"{cpu_name()}, torch {torch.__version__}, 1 thread, {args.crop} px crops")
    print("| degradation | ms per sample |\n|---|---:|")
    for n in names:
        print(f"| {n} | {best[n]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
