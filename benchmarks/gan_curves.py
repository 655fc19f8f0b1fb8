"""Curves of GAN training runs: NIQE, PSNR and edge overshoot of every checkpoint.

    python benchmarks/gan_curves.py runs/study/s1 runs/study/s2 --bench ../shared/data/benchmarks \
        --niqe-params ../shared/metrics/niqe_pris_params.npz \
        --holdout ../shared/data/train/SunHays80_HR --only 'img_0[4-7]?_*' --out docs/notes/figs/gan-study

For each run folder (or checkpoint file) and each of its checkpoints, the EMA generator (``--raw``:
the trained weights) upscales Set14 and Set5 (x4, MATLAB-bicubic LR) and, with ``--holdout``, the
held-out photos (LR made with MATLAB bicubic). Prints one markdown row per checkpoint: Set14 Y-PSNR,
Set14 NIQE, held-out NIQE, the mean and worst edge overshoot on Set5 and Set14
(:func:`srgan.artifacts.edge_overshoot`, luma levels beyond HR's own), the mean edge ringing on both
(:func:`srgan.artifacts.edge_ringing`: second lines beside edges, also inside their range), and the
mean and worst edge halo (:func:`srgan.artifacts.edge_halo`: beyond the image's own edge sides) with
the number of images on which it exceeds HR's. The first row is HR itself: its NIQE and its own halo
are the targets. ``--models`` adds packaged models or weight files as reference rows; bicubic is always one. With
``--out`` it writes the table as CSV and the curves as a PNG.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from srgan.api import SRModel, from_pretrained
from srgan.evaluate import REFERENCE, bicubic_method, evaluate_set, model_method
from srgan.niqe import load_pristine
from srgan.train.checkpoint import generator_from_run

COLUMNS = [
    "set14_psnr",
    "set14_niqe",
    "holdout_niqe",
    "set5_over",
    "set5_over_worst",
    "set14_over",
    "set14_over_worst",
    "set5_ring",
    "set14_ring",
    "set5_halo",
    "set5_halo_worst",
    "set5_halo_above",
    "set14_halo",
    "set14_halo_worst",
    "set14_halo_above",
]


def checkpoints(run: Path) -> list[Path]:
    """The checkpoint file itself, or a run folder's checkpoints; a path that names none is an error."""
    if run.is_file():
        return [run]
    d = run / "checkpoints" if (run / "checkpoints").is_dir() else run
    found = sorted(d.glob("ckpt_*.pt")) if d.is_dir() else []
    if not found:
        raise SystemExit(f"{run}: no such checkpoint file, and no ckpt_*.pt in a run folder there")
    return found


def run_label(run: Path) -> str:
    """A run's name: the folder of ``<run>/checkpoints/ckpt_*.pt`` given one by one, so they plot as one curve."""
    if run.is_file() and run.parent.name == "checkpoints":
        return run.parent.parent.name
    return run.name


def measure(
    method, bench: Path, niqe, holdout: Path | None, only: list[str], hr_halo: dict | None = None, hr: bool = False
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """A row of the table for ``method``, or (``hr``) for the ground truth itself, whose values are
    the references: its NIQE and its own edge halo; and the halo per set and image. ``hr_halo``:
    HR's halo per set and image, to count the images on which ``method`` draws more than HR has."""
    row: dict[str, float] = {}
    halos: dict[str, dict[str, float]] = {}
    key = REFERENCE if hr else method.name
    for name in ("Set5", "Set14"):
        niqe_here = niqe if name == "Set14" else None
        res = evaluate_set(bench / name, 4, [method], niqe_params=niqe_here, artefacts=True, reference=hr)
        mean, per_image = res.mean(key), (res.reference if hr else res.per_image[key])
        n = name.lower()
        row[f"{n}_over"] = mean["overshoot"]
        row[f"{n}_over_worst"] = res.worst(key, "overshoot")[1]
        row[f"{n}_ring"] = mean["ringing"]
        row[f"{n}_halo"] = mean["halo"]
        row[f"{n}_halo_worst"] = res.worst(key, "halo")[1]
        halos[name] = {img: r["halo"] for img, r in per_image.items()}
        ref = hr_halo[name] if hr_halo else {}
        row[f"{n}_halo_above"] = sum(1 for img, h in halos[name].items() if img in ref and h > ref[img])
        row[f"{n}_images"] = len(per_image)
        if name == "Set14":
            row["set14_psnr"], row["set14_niqe"] = mean.get("psnr", float("nan")), mean["niqe"]
    if holdout is not None:
        res = evaluate_set(holdout, 4, [method], niqe_params=niqe, only=only, reference=hr)
        row["holdout_niqe"] = res.mean(key)["niqe"]
    else:
        row["holdout_niqe"] = float("nan")
    return row, halos


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="*", type=Path, help="run folders or checkpoint files")
    ap.add_argument("--bench", type=Path, required=True, help="folder holding Set5/ and Set14/")
    ap.add_argument("--niqe-params", required=True, help="NIQE pristine-model .npz")
    ap.add_argument("--holdout", type=Path, help="a folder of held-out HR photos")
    ap.add_argument("--only", action="append", default=[], help="glob of held-out file names (repeatable)")
    ap.add_argument("--models", action="append", default=[], help="packaged models or weight files as references")
    ap.add_argument("--every", type=int, default=1, help="every N-th checkpoint (the last always)")
    ap.add_argument("--raw", action="store_true", help="the trained weights instead of the EMA")
    ap.add_argument("--out", type=Path, help="write OUT.csv and OUT.png")
    args = ap.parse_args(argv)
    found = [(run, checkpoints(run)) for run in args.runs]  # before any measuring: a mistyped path fails at once
    niqe = load_pristine(args.niqe_params)

    hr, hr_halo = measure(bicubic_method(4), args.bench, niqe, args.holdout, args.only, hr=True)
    rows: list[tuple[str, int, dict[str, float]]] = [("HR", -1, hr)]
    _print(rows[-1], header=True)
    refs = [("bicubic", bicubic_method(4))] + [(m, model_method(m, from_pretrained(m))) for m in args.models]
    for name, method in refs:
        rows.append((name, -1, measure(method, args.bench, niqe, args.holdout, args.only, hr_halo)[0]))
        _print(rows[-1], header=False)
    for run, ckpts in found:
        ckpts = [c for i, c in enumerate(ckpts) if i % args.every == args.every - 1 or c == ckpts[-1]]
        label = run_label(run)
        for c in ckpts:
            g, state, _ = generator_from_run(c, ema=not args.raw)
            method = model_method(label, SRModel(g, {}, device="cpu"))
            row = measure(method, args.bench, niqe, args.holdout, args.only, hr_halo)[0]
            rows.append((label, int(state["step"]), row))
            _print(rows[-1], header=False)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out.with_suffix(".csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["run", "step", *COLUMNS])
            for name, step, r in rows:
                w.writerow([name, step, *(f"{r[k]:.4f}" for k in COLUMNS)])
        _plot(rows, args.out.with_suffix(".png"))
        print(f"wrote {args.out.with_suffix('.csv')} and .png")
    return 0


def _print(row: tuple[str, int, dict[str, float]], header: bool) -> None:
    if header:
        print(
            "| run | step | Set14 PSNR | Set14 NIQE | held-out NIQE "
            "| Set5 overshoot (worst) | Set14 overshoot (worst) | ringing Set5 / Set14 "
            "| Set5 halo (worst), images above HR | Set14 halo (worst), images above HR |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    name, step, r = row

    def halo(n: str) -> str:
        return f"{r[n + '_halo']:.2f} ({r[n + '_halo_worst']:.2f}), {r[n + '_halo_above']:.0f}/{r[n + '_images']:.0f}"

    psnr = "-" if np.isnan(r["set14_psnr"]) else f"{r['set14_psnr']:.2f}"
    print(
        f"| {name} | {'' if step < 0 else step} | {psnr} | {r['set14_niqe']:.2f} | "
        f"{r['holdout_niqe']:.2f} | {r['set5_over']:.2f} ({r['set5_over_worst']:.2f}) | "
        f"{r['set14_over']:.2f} ({r['set14_over_worst']:.2f}) | {r['set5_ring']:.2f} / {r['set14_ring']:.2f} | "
        f"{halo('set5')} | {halo('set14')} |",
        flush=True,
    )


def _plot(rows: list[tuple[str, int, dict[str, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [
        ("set14_niqe", "Set14 NIQE"),
        ("holdout_niqe", "held-out NIQE"),
        ("set14_psnr", "Set14 PSNR (dB)"),
        ("set14_over", "Set14 overshoot"),
        ("set14_ring", "Set14 edge ringing"),
        ("set14_halo", "Set14 edge halo (own sides)"),
    ]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.4))
    runs = sorted({n for n, s, _ in rows if s >= 0}, key=lambda n: [r[0] for r in rows].index(n))
    for ax, (k, title) in zip(axes, keys):
        for n in runs:
            pts = [(s, r[k]) for m, s, r in rows if m == n and s >= 0]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=n)
        for n, s, r in rows:
            if s < 0 and np.isfinite(r[k]):
                ax.axhline(r[k], ls="--", lw=0.8, color="grey")
                ax.annotate(n, (0, r[k]), fontsize=7, color="grey")
        ax.set_title(title)
        ax.set_xlabel("step")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
