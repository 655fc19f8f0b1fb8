"""``srgan plot RUN_DIR``: the spec's training figures from a run's metrics.csv."""

from __future__ import annotations

import csv
from pathlib import Path

__all__ = ["plot_run"]

_FIGURES = [  # file, title, y label, columns
    ("psnr.png", "PSNR vs. epochs (validation)", "PSNR (dB)", ["psnr"]),
    ("ssim.png", "SSIM vs. epochs (validation)", "SSIM", ["ssim"]),
    ("mse.png", "MSE vs. epochs (validation)", "MSE", ["mse"]),
    ("losses.png", "Generator and discriminator loss vs. epochs", "loss", ["loss_g", "loss_d"]),
]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write PSNR/SSIM/MSE/loss curves (x = epochs) as PNGs; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = Path(run_dir)
    metrics = run / "metrics.csv"
    if not metrics.is_file():
        raise FileNotFoundError(f"{metrics} not found: is {run} a training run folder?")
    rows = _read(metrics)
    out = Path(out_dir) if out_dir else run / "plots"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fname, title, ylabel, cols in _FIGURES:
        series = {c: [(float(r["epoch"]), float(r[c])) for r in rows if r.get(c) not in (None, "")] for c in cols}
        series = {c: v for c, v in series.items() if v}
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        for c, pts in series.items():
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o" if len(pts) < 30 else None, label=c)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend()
        fig.tight_layout()
        fig.savefig(out / fname, dpi=100)
        plt.close(fig)
        written.append(out / fname)
    if not written:
        raise ValueError(f"{metrics} has no rows to plot yet")
    return written
