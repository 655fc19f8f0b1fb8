"""Upscaling speed (s per output megapixel) and peak memory on this machine.

    python benchmarks/upscale_speed.py [--model srresnet-x4] [--threads 2]

Prints a Markdown table. Timing: a 512x512 LR input (x4 -> 4.2 MP), warm-up
then the median of repeats, in-process. Memory: each case runs in a fresh
subprocess and reports its peak RSS, tiled (default tile) against untiled.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

CHILD = r"""
import json, resource, sys, time, numpy as np, torch
torch.set_num_threads({threads})
import srgan
m = srgan.from_pretrained({model!r}, device="cpu", tile={tile})
x = (np.random.default_rng(0).random(({size}, {size}, 3)) * 255).astype(np.uint8)
t = time.perf_counter(); y = m.upscale(x); dt = time.perf_counter() - t
print(json.dumps({{"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "seconds": dt, "out_mp": y.shape[0] * y.shape[1] / 1e6}}))
"""


def child(model: str, size: int, tile: int | None, threads: int) -> dict:
    code = CHILD.format(model=model, size=size, tile=tile, threads=threads)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="srresnet-x4")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--memory-size", type=int, default=1024, help="LR side for the memory cases")
    args = ap.parse_args()

    import numpy as np
    import torch

    import srgan

    torch.set_num_threads(args.threads)
    m = srgan.from_pretrained(args.model, device="cpu")
    x = (np.random.default_rng(0).random((512, 512, 3)) * 255).astype(np.uint8)
    rows = []
    for tile in (512, 128, None):
        m.tile = tile
        m.upscale(x[:64, :64])  # warm-up
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            y = m.upscale(x)
            times.append(time.perf_counter() - t)
        med = statistics.median(times)
        mp = y.shape[0] * y.shape[1] / 1e6
        rows.append((f"512x512 LR -> {y.shape[1]}x{y.shape[0]}, tile {tile or 'none'}", med, med / mp))
    print(f"model {args.model}, {args.threads} threads, torch {torch.__version__}\n")
    print("| case | seconds (median of %d) | s/MP (output) |" % args.repeats)
    print("|---|---:|---:|")
    for name, sec, spm in rows:
        print(f"| {name} | {sec:.2f} | {spm:.2f} |")
    print("\n| memory case (fresh process) | output MP | peak RSS (MB) | seconds |")
    print("|---|---:|---:|---:|")
    for size, tile in ((args.memory_size, None), (args.memory_size, 512), (args.memory_size, 256)):
        r = child(args.model, size, tile, args.threads)
        print(f"| {size}x{size} LR, tile {tile or 'none'} | {r['out_mp']:.1f} | {r['rss_mb']:.0f} | {r['seconds']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
