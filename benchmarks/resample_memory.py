"""Peak memory of MATLAB-bicubic resizing against the long side L of a thin 2 x L RGBA image.

    python benchmarks/resample_memory.py [--lengths 1000 5000 20000 100000]

Each row runs in a fresh process (x4 up, then x1/4 down, float64, as the alpha plane and the
LR-consistency check do) and reports its peak RSS (Linux ru_maxrss) above the baseline of an
idle process that imported the same modules.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

CHILD = """
import resource, sys
import numpy as np
from srgan.imresize import imresize
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
length = int(sys.argv[1])
if length:
    up = imresize(np.random.default_rng(0).random((2, length, 4)), 4)
    imresize(up, 0.25)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", type=int, nargs="+", default=[1000, 5000, 20000, 100000])
    args = ap.parse_args()
    print("| L (2 x L RGBA, x4 up and down) | output pixels | peak RSS above baseline (MB) | dense matrices (MB) |")
    print("|---:|---:|---:|---:|")
    for length in args.lengths:
        mb = float(
            subprocess.run(
                [sys.executable, "-c", CHILD, str(length)], capture_output=True, text=True, check=True
            ).stdout
        )
        dense = (length * 4 * length + 4 * length * length) * 8 / 2**20  # one (4L x L) up and one (L x 4L) down matrix
        print(f"| {length} | {8 * 4 * length:,} | {mb:.1f} | {dense:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
