"""Translation equivariance by distance from the image border, per model (Set14 x4).

    python benchmarks/shift_profile.py --bench ../shared/data/benchmarks --model srresnet-x4 --model srgan-x4

The PSNR (dB, Y) between a model's output for the LR of an HR image moved by 1-3 px and its output
for the unmoved LR, moved alike (benchmarks/artifacts.py shift_error), in bands of distance from
each image edge, pooled over Set14; pixels within 64 px of another edge are left out. A model that
draws a lattice-tied pattern only near the borders shows a dip in the first bands.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from artifacts import set_and_models_args, shift_error, shift_profile  # noqa: E402

from srgan.api import from_pretrained  # noqa: E402
from srgan.data import PairedImages  # noqa: E402

BANDS = (0, 4, 8, 12, 16, 24, 32, 64)


def main() -> int:
    args = set_and_models_args(__doc__)
    heads = [f"{lo}-{hi} px" for lo, hi in zip(BANDS, BANDS[1:])]
    print("| model | edge | " + " | ".join(heads) + " |")
    print("|---|---|" + "---:|" * len(heads))
    for name in args.model:
        model = from_pretrained(name, device="cpu")
        totals: dict[str, np.ndarray] = {}
        for _, _, hr in PairedImages(Path(args.bench) / args.set / "x4", 4):
            for side, cells in shift_profile(shift_error(model.upscale, hr), BANDS).items():
                totals[side] = totals.get(side, np.zeros((len(cells), 2))) + np.array(cells)
        for side, t in totals.items():
            cells = [f"{10 * np.log10(255.0**2 / (s / n)):.2f}" if n else "" for s, n in t]
            print(f"| {name} | {side} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
