"""One row per perceptual model: fidelity, sharpness, naturalness and artefacts, side by side.

    python benchmarks/gan_scorecard.py --bench ../shared/data/benchmarks --model srgan-x4 \
        --model runs/x/ckpt.pt --model OUT/trial.safetensors [--niqe-params FILE] [--labels a,b,c]

For choosing among SRGAN-stage runs (docs/training.md). Per model, x4:
  PSNR         Set5 / Set14, Y channel, shave 4 (as `srgan evaluate`)
  sharpness    Set5 / Set14 mean gradient magnitude over HR's (benchmarks/alpha_curve.py)
  NIQE         Set5 / Set14 mean (lower is more natural; with --niqe-params)
  colour       worst Set14 mean colour shift against HR, 8-bit levels
  chroma       Set14 mean and worst per-pixel chroma (Cb, Cr) error against HR, 8-bit levels
  grid         worst Set14 period-2/4 lattice power over HR's, and the worst such pattern's RMS
               amplitude in luma levels (benchmarks/artifacts.py)
  block        Set14 mean and worst of the edge-strength profile by sub-pixel phase against HR's
               (srgan.losses.block_loss x100; 0 = as even as HR)
  shift EQ     Set14 mean and worst translation equivariance under sub-pixel shifts, PSNR in dB,
               and its mean over the 16 px band along the image borders (benchmarks/artifacts.py
               shift_consistency; low = a pattern tied to the output lattice)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alpha_curve import gradient_energy  # noqa: E402
from artifacts import measures, shift_consistency  # noqa: E402

from srgan.api import from_pretrained  # noqa: E402
from srgan.data import PairedImages  # noqa: E402
from srgan.metrics import evaluate_pair  # noqa: E402
from srgan.niqe import load_pristine, niqe_image  # noqa: E402


def score(model, bench: Path, pristine: dict | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for set_name in ("Set5", "Set14"):
        psnr, sharp, nq, colour, chroma, grid, level, blk, eq, eq_border = [], [], [], [], [], [], [], [], [], []
        for _, lr, hr in PairedImages(bench / set_name / "x4", 4):
            sr = model.upscale(lr)
            psnr.append(evaluate_pair(sr, hr, 4)["psnr"])
            sharp.append(gradient_energy(sr, 4) / gradient_energy(hr, 4))
            if pristine is not None:
                nq.append(niqe_image(sr, pristine, border=4))
            if set_name == "Set14":
                for acc, v in zip((colour, chroma, grid, level, blk), measures(sr, hr), strict=True):
                    acc.append(v)
                whole, border = shift_consistency(model.upscale, hr)
                eq.append(whole)
                eq_border.append(border)
        out[f"{set_name} PSNR"], out[f"{set_name} sharpness"] = float(np.mean(psnr)), float(np.mean(sharp))
        if nq:
            out[f"{set_name} NIQE"] = float(np.mean(nq))
    out.update({"colour worst": max(colour), "chroma mean": float(np.mean(chroma)), "chroma worst": max(chroma), "grid worst (x HR)": max(grid), "grid level worst": max(level),
                "block mean": float(np.mean(blk)), "block worst": max(blk), "shift EQ mean (dB)": float(np.mean(eq)), "shift EQ worst (dB)": min(eq),
                "shift EQ border (dB)": float(np.mean(eq_border))})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--model", action="append", required=True, help="packaged name, checkpoint or .safetensors")
    ap.add_argument("--labels", help="comma-separated row labels (default: the file names)")
    ap.add_argument("--niqe-params", help="NIQE pristine model (.npz), e.g. ../shared/metrics/niqe_pris_params.npz")
    args = ap.parse_args()
    labels = args.labels.split(",") if args.labels else [Path(m).stem for m in args.model]
    if len(labels) != len(args.model):
        raise SystemExit(f"{len(labels)} labels for {len(args.model)} models")
    pristine = load_pristine(args.niqe_params) if args.niqe_params else None
    rows = [(label, score(from_pretrained(m, device="cpu"), Path(args.bench), pristine)) for label, m in zip(labels, args.model)]
    cols = list(rows[0][1])
    print("| model | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for label, r in rows:
        print(f"| {label} | " + " | ".join(f"{r[c]:.3f}" if "sharp" in c or "NIQE" in c else f"{r[c]:.2f}" for c in cols) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
