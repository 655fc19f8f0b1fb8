"""The training loop: data, LR schedule, EMA, validation, CSV log, checkpoints, resume."""
from __future__ import annotations

import csv
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..data import ImageCache, PairedImages, RandomCropDataset, StepBatchSampler
from ..inference import resolve_device, upscale_array
from ..metrics import evaluate_pair
from ..models import Generator
from .checkpoint import load_latest_checkpoint, save_checkpoint
from .config import TrainConfig
from .ema import EMA
from .stages import SRResNetStage, Stage

__all__ = ["Trainer", "lr_factor", "validate"]

log = logging.getLogger(__name__)


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Multiplier of the base learning rate at ``step`` (warm-up, then the schedule)."""
    o = cfg.optim
    if o.warmup_steps and step < o.warmup_steps:
        return (step + 1) / o.warmup_steps
    if o.schedule == "step":
        return o.gamma ** sum(step >= m for m in o.milestones)
    if o.schedule == "cosine":
        span = max(1, cfg.steps - o.warmup_steps)
        t = min(1.0, (step - o.warmup_steps) / span)
        floor = o.min_lr / o.lr
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))
    return 1.0


def validate(model: torch.nn.Module, pairs: PairedImages, scale: int, device: torch.device) -> dict[str, float]:
    """Mean PSNR/SSIM (Y, shave=scale) and RGB MSE of ``model`` over a benchmark folder."""
    was_training = model.training
    model.eval()
    rows = []
    for _, lr, hr in pairs:
        sr = upscale_array(model, lr, scale, tile=None, device=device)
        if hr.ndim == 2:
            sr = sr.mean(axis=2)  # gray input was replicated; the channels are identical up to rounding
        rows.append(evaluate_pair(np.clip(np.round(sr * 255), 0, 255).astype(np.uint8), hr, scale))
    model.train(was_training)
    return {k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "ssim", "mse")}


class Trainer:
    """Runs a :class:`TrainConfig` to completion, resuming from ``out_dir`` if asked."""

    def __init__(self, cfg: TrainConfig, resume: bool = False) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out_dir)
        self.ckpt_dir = self.out / "checkpoints"
        if not resume and any(self.ckpt_dir.glob("ckpt_*.pt")):
            raise FileExistsError(f"{self.ckpt_dir} already has checkpoints: pass --resume to continue, or choose another out_dir")
        self.out.mkdir(parents=True, exist_ok=True)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.device = resolve_device(cfg.device)
        m = cfg.model
        self.generator = Generator(m.scale, m.num_blocks, m.channels).to(self.device)
        if cfg.channels_last:
            self.generator = self.generator.to(memory_format=torch.channels_last)
        self.stage: Stage = SRResNetStage(self.generator, cfg)
        self.ema = EMA(self.generator, cfg.ema_decay) if cfg.ema_decay else None
        self.step = 0
        if resume:
            self._resume()
        (self.out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))

    # --- state -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "stage": self.stage.state_dict(),
            "ema": self.ema.state_dict() if self.ema else None,
            "torch_rng": torch.get_rng_state(),
            "config": json.dumps(self.cfg.to_dict()),
        }

    def _resume(self) -> None:
        found = load_latest_checkpoint(self.ckpt_dir)
        if found is None:
            log.warning("no checkpoint in %s: starting from scratch", self.ckpt_dir)
            return
        state, path = found
        self.stage.load_state_dict(state["stage"])
        if self.ema and state.get("ema"):
            self.ema.load_state_dict(state["ema"])
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])
        log.info("resumed from %s at step %d", path, self.step)

    def save(self) -> Path:
        return save_checkpoint(self.state_dict(), self.ckpt_dir, self.step, self.cfg.keep_checkpoints)

    def eval_model(self) -> torch.nn.Module:
        """The weights to validate and export: EMA if enabled."""
        return self.ema.module if self.ema else self.generator

    # --- logging -------------------------------------------------------------------------
    def _log_row(self, row: dict[str, Any]) -> None:
        path = self.out / "metrics.csv"
        fields = ["step", "epoch", "lr", "loss_g", "loss_d", "d_real", "d_fake", "psnr", "ssim", "mse", "data_time", "step_time", "wall"]
        new = not path.exists()
        with path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)

    def _truncate_log(self) -> None:
        """Drop CSV rows logged after the resumed step (they will be redone)."""
        path = self.out / "metrics.csv"
        if not path.exists():
            return
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
            fields = rows[0].keys() if rows else None
        if fields is None:
            return
        keep = [r for r in rows if int(r["step"]) <= self.step]
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(fields))
            w.writeheader()
            w.writerows(keep)

    # --- loop ----------------------------------------------------------------------------
    def fit(self, progress: bool = True) -> dict[str, float]:
        cfg, d = self.cfg, self.cfg.data
        self._truncate_log()
        t0 = time.perf_counter()
        cache = ImageCache(d.train, min_size=d.crop)
        log.info("cached %d training images (%.1f MP) in %.1fs", len(cache), cache.megapixels, time.perf_counter() - t0)
        dataset = RandomCropDataset(cache, cfg.model.scale, d.crop, d.augment, cfg.seed)
        sampler = StepBatchSampler(d.batch_size, self.step, cfg.steps)
        loader = DataLoader(dataset, batch_sampler=sampler, num_workers=d.num_workers, persistent_workers=False)
        val = PairedImages(d.val, cfg.model.scale) if d.val else None
        epoch_len = len(cache) / d.batch_size
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not progress, dynamic_ncols=True, desc=cfg.name)
        last: dict[str, float] = {}
        acc: dict[str, float] = {}
        n_acc, data_t, step_t = 0, 0.0, 0.0
        self.generator.train()
        t_data = time.perf_counter()
        for lr_img, hr_img in loader:
            t_step = time.perf_counter()
            data_t += t_step - t_data
            for g in self.stage.optimizers["g"].param_groups:
                g["lr"] = cfg.optim.lr * lr_factor(self.step, cfg)
            lr_img = lr_img.to(self.device, non_blocking=True)
            hr_img = hr_img.to(self.device, non_blocking=True)
            if cfg.channels_last:
                lr_img = lr_img.contiguous(memory_format=torch.channels_last)
                hr_img = hr_img.contiguous(memory_format=torch.channels_last)
            losses = self.stage.train_step(lr_img, hr_img)
            values = {k: float(v) for k, v in losses.items()}
            bad = [k for k, v in values.items() if not math.isfinite(v)]
            if bad:
                raise FloatingPointError(f"non-finite {', '.join(bad)} at step {self.step + 1}; the last good checkpoint is kept in {self.ckpt_dir}")
            if self.ema:
                self.ema.update(self.generator)
            self.step += 1
            for k, v in values.items():
                acc[k] = acc.get(k, 0.0) + v
            n_acc += 1
            t_data = time.perf_counter()
            step_t += t_data - t_step
            bar.update(1)
            row = None
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                row = {k: v / n_acc for k, v in acc.items()}
                row.update(data_time=data_t / n_acc, step_time=step_t / n_acc)
                acc, n_acc, data_t, step_t = {}, 0, 0.0, 0.0
                bar.set_postfix(loss=f"{row['loss_g']:.4f}", data=f"{row['data_time'] / max(row['data_time'] + row['step_time'], 1e-9):.0%}")
            if val and (self.step % cfg.val_every == 0 or self.step == cfg.steps):
                metrics = validate(self.eval_model(), val, cfg.model.scale, self.device)
                row = {**(row or {}), **metrics}
                last = metrics
                bar.write(f"step {self.step}: PSNR {metrics['psnr']:.2f} dB  SSIM {metrics['ssim']:.4f}  MSE {metrics['mse']:.5f}")
            if row is not None:
                row.update(step=self.step, epoch=f"{self.step / epoch_len:.3f}", lr=self.stage.optimizers["g"].param_groups[0]["lr"], wall=time.time())
                self._log_row(row)
            if self.step % cfg.ckpt_every == 0 or self.step == cfg.steps:
                self.save()
            t_data = time.perf_counter()
        bar.close()
        return last
