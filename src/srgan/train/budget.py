"""Fitting a run to a wall-clock budget: a cosine schedule only anneals if it ends on time."""

from __future__ import annotations

import copy
import csv
import tempfile
from pathlib import Path

from .config import TrainConfig
from .trainer import Trainer

__all__ = ["seconds_per_step", "probe_seconds_per_step", "plan_steps", "with_steps"]


def seconds_per_step(metrics_csv: str | Path) -> float:
    """Mean seconds per step over the second half of a run's logged rows in metrics.csv, so that
    start-up, data indexing, loader warm-up and cuDNN autotuning are left out (on an H200 a 20-step
    probe timed from its first row read 111-237 ms/step for runs that then took 39)."""
    rows = [r for r in csv.DictReader(Path(metrics_csv).open()) if r.get("wall")]
    if len(rows) < 2:
        raise ValueError(f"{metrics_csv}: need two logged rows to time a run (lower log_every)")
    a, b = rows[(len(rows) - 1) // 2], rows[-1]
    return (float(b["wall"]) - float(a["wall"])) / (int(b["step"]) - int(a["step"]))


def probe_seconds_per_step(cfg: TrainConfig, steps: int = 60) -> float:
    """Train a copy of ``cfg`` for ``steps`` steps in a scratch folder (no validation, checkpoints
    or TensorBoard) and return its seconds per step."""
    probe = copy.deepcopy(cfg)
    probe.steps, probe.log_every = steps, max(1, steps // 6)
    probe.val_every = probe.ckpt_every = 10**9
    probe.tensorboard = False
    with tempfile.TemporaryDirectory() as tmp:
        probe.out_dir = tmp
        Trainer(probe).fit(progress=False)
        return seconds_per_step(Path(tmp) / "metrics.csv")


def with_steps(cfg: TrainConfig, steps: int) -> TrainConfig:
    """A copy of ``cfg`` that runs ``steps`` steps, its warm-up scaled to the same fraction of the run."""
    out = copy.deepcopy(cfg)
    warm_frac = cfg.optim.warmup_steps / max(1, cfg.steps)
    out.steps = max(1, steps)
    out.optim.warmup_steps = int(round(warm_frac * out.steps))
    out.val_every, out.ckpt_every = min(cfg.val_every, out.steps), min(cfg.ckpt_every, out.steps)
    return out


def plan_steps(cfg: TrainConfig, minutes: float, per_step: float, margin: float = 0.08) -> TrainConfig:
    """A copy of ``cfg`` whose step count fills ``minutes`` (less ``margin`` for validation and
    checkpoints), with the warm-up scaled to the same fraction of the run."""
    return with_steps(cfg, int(minutes * 60 * (1 - margin) / per_step))
