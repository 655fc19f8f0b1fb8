"""The perception-distortion trade-off of network interpolation, per alpha.

    python benchmarks/alpha_curve.py --bench ../shared/data/benchmarks --model srgan-x4 \
        [--reference srresnet-x4] [--alphas 0 0.25 0.5 0.75 1]

For Set5 and Set14 x4, prints PSNR/SSIM (Y, shave 4), the LR-consistency PSNR and
a sharpness ratio: mean gradient magnitude of the output over that of HR (1.0 is
as sharp as the ground truth; bicubic and MSE models score well below 1).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from srgan.api import from_pretrained
from srgan.data import PairedImages
from srgan.faithfulness import lr_consistency
from srgan.metrics import evaluate_pair, rgb_to_y, shave


def gradient_energy(img: np.ndarray, border: int) -> float:
    y = shave(rgb_to_y(img), border)
    gy, gx = np.gradient(y)
    return float(np.mean(np.hypot(gx, gy)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--model", required=True, help="the perceptual model (alpha = 1)")
    ap.add_argument("--reference", help="the PSNR model (alpha = 0); default: the model card's mmse_reference")
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    args = ap.parse_args()
    print("| set | alpha | PSNR | SSIM | LR-consistency PSNR | sharpness (grad / HR grad) |")
    print("|---|---:|---:|---:|---:|---:|")
    for set_name in ("Set5", "Set14"):
        for alpha in args.alphas:
            m = from_pretrained(args.model, device="cpu", alpha=alpha, reference=args.reference)
            rows = []
            for _, lr, hr in PairedImages(Path(args.bench) / set_name / f"x{m.scale}", m.scale):
                sr = m.upscale(lr)
                r = evaluate_pair(sr, hr, m.scale)
                r["lr_psnr"] = lr_consistency(sr, lr, m.scale)
                r["sharp"] = gradient_energy(sr, m.scale) / gradient_energy(hr, m.scale)
                rows.append(r)
            mean = {k: np.mean([r[k] for r in rows]) for k in rows[0]}
            print(f"| {set_name} | {alpha:.2f} | {mean['psnr']:.2f} | {mean['ssim']:.4f} | {mean['lr_psnr']:.2f} | {mean['sharp']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
