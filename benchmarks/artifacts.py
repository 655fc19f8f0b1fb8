"""Colour shift and checkerboard check of SR outputs against HR, per image.

    python benchmarks/artifacts.py --bench ../shared/data/benchmarks --model srresnet-x4 --model srgan-x4 [--set Set14]

Per image and method (bicubic and each model, x4):
  colour shift   max over R, G, B of |mean(SR) - mean(HR)|, in 8-bit levels (0..255)
  checkerboard   power of the output's luma at the spatial frequencies of a period-2 and
                 period-4 pattern on the output grid (the periods a x2 PixelShuffle twice can
                 imprint), divided by the HR's power at the same frequencies. About 1 means no
                 more periodic structure than the ground truth; a checkerboard shows as >> 1.
Prints a Markdown table and the per-method worst case.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from srgan.api import from_pretrained
from srgan.data import PairedImages
from srgan.imresize import imresize
from srgan.metrics import rgb_to_y


def _rgb(img: np.ndarray) -> np.ndarray:
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img


def colour_shift(sr: np.ndarray, hr: np.ndarray) -> float:
    sr, hr = _rgb(sr), _rgb(hr)
    d = sr.reshape(-1, 3).astype(np.float64).mean(0) - hr.reshape(-1, 3).astype(np.float64).mean(0)
    return float(np.abs(d).max())


def periodic_power(img: np.ndarray) -> float:
    """Luma power at the frequencies (i*H/4, j*W/4), i, j in 0..3, except DC."""
    y = rgb_to_y(_rgb(img))
    h, w = (y.shape[0] // 4) * 4, (y.shape[1] // 4) * 4
    y = y[:h, :w] - y[:h, :w].mean()
    f = np.abs(np.fft.fft2(y)) ** 2
    bins = [(i * h // 4, j * w // 4) for i in range(4) for j in range(4) if i or j]
    return float(sum(f[a, b] for a, b in bins))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--set", default="Set14")
    args = ap.parse_args()
    models = {n: from_pretrained(n, device="cpu") for n in args.model}
    methods = ["bicubic", *models]
    print("| image | " + " | ".join(f"{m} colour shift | {m} checkerboard" for m in methods) + " |")
    print("|---|" + "---:|---:|" * len(methods))
    worst = {m: [0.0, 0.0] for m in methods}
    for name, lr, hr in PairedImages(Path(args.bench) / args.set / "x4", 4):
        outs = {"bicubic": np.floor(np.clip(imresize(lr.astype(np.float64) / 255, 4), 0, 1) * 255 + 0.5).astype(np.uint8)}
        outs.update({n: m.upscale(lr) for n, m in models.items()})
        cells = []
        hr_power = periodic_power(hr)
        for m in methods:
            cs, cb = colour_shift(outs[m], hr), periodic_power(outs[m]) / hr_power
            worst[m] = [max(worst[m][0], cs), max(worst[m][1], cb)]
            cells.append(f"{cs:.2f} | {cb:.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("| **worst** | " + " | ".join(f"**{worst[m][0]:.2f}** | **{worst[m][1]:.2f}**" for m in methods) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
