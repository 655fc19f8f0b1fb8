"""Faithfulness table and figures (docs/faithfulness.md).

    python benchmarks/faithfulness.py --bench ../shared/data/benchmarks --model srresnet-x4 [--model srgan-x4] \
        [--figures docs/figures/faithfulness]

For Set5 and Set14 x4, per model, with and without --enforce-consistency:
PSNR/SSIM (Y, shave 4), LR-consistency PSNR and sharpness (gradient energy over
HR's). With --figures, writes per Set14 image HR | model | hallucination map for
every non-MMSE model (the map compares it with srresnet-x4).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from srgan.api import from_pretrained
from srgan.artifacts import sharpness
from srgan.data import PairedImages
from srgan.faithfulness import enforce_consistency, hallucination_map, lr_consistency, overlay
from srgan.figures import side_by_side
from srgan.image_io import quantize
from srgan.imresize import imresize
from srgan.metrics import evaluate_pair


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--reference", default="srresnet-x4", help="MMSE model for the hallucination maps")
    ap.add_argument("--figures", help="folder for HR | model | map figures (Set14)")
    args = ap.parse_args()
    models = {n: from_pretrained(n, device="cpu") for n in args.model}
    ref = from_pretrained(args.reference, device="cpu")
    print("| set | method | enforced | PSNR | SSIM | LR-consistency PSNR | sharpness |")
    print("|---|---|---|---:|---:|---:|---:|")
    for set_name in ("Set5", "Set14"):
        rows: dict[tuple[str, bool], list[dict]] = {}
        for name_img, lr, hr in PairedImages(Path(args.bench) / set_name / "x4", 4):
            outs = {"bicubic": imresize(lr, 4)}
            outs.update({n: m.upscale(lr) for n, m in models.items()})
            for method, sr in outs.items():
                for enforced in (False, True):
                    img = quantize(enforce_consistency(sr, lr, 4), 8) if enforced else sr
                    r = evaluate_pair(img, hr, 4)
                    r.update(lr_psnr=lr_consistency(img, lr, 4), sharp=sharpness(img, hr, 4))
                    rows.setdefault((method, enforced), []).append(r)
            if args.figures and set_name == "Set14":
                mmse = ref.upscale(lr)
                for n in models:
                    if n == args.reference:
                        continue
                    heat = hallucination_map(outs[n].astype(np.float64) / 255, mmse.astype(np.float64) / 255, lr, 4)
                    side_by_side(
                        [("HR", hr), (n, outs[n]), ("hallucination map", overlay(outs[n], heat))],
                        Path(args.figures) / f"{name_img}_{n}.jpg",
                        title=f"Set14 {name_img}",
                    )
        for (method, enforced), rs in rows.items():
            m = {k: np.mean([r[k] for r in rs]) for k in rs[0]}
            print(
                f"| {set_name} | {method} | {'yes' if enforced else 'no'} | {m['psnr']:.2f} | {m['ssim']:.4f} | "
                f"{m['lr_psnr']:.2f} | {m['sharp']:.3f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
