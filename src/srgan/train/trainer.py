"""The training loop: data, LR schedule, EMA, validation, logging, checkpoints, resume, DDP."""

from __future__ import annotations

import csv
import json
import logging
import math
import signal
import threading
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..data import ImageCache, ImageFiles, PairedImages, RandomCropDataset, StepBatchSampler
from ..image_io import quantize
from ..inference import resolve_device, upscale_array
from ..metrics import evaluate_pair
from ..models.registry import build_discriminator, build_generator
from .checkpoint import (
    generator_from_run,
    list_checkpoints,
    load_latest_checkpoint,
    save_checkpoint,
    set_aside_unreadable,
)
from .config import ConfigError, TrainConfig
from .distributed import DistInfo, all_reduce_mean, check_replicas_in_sync, cleanup_distributed, init_distributed
from .ema import EMA
from .split_batches import SplitBatches, batches_in_process, helpers_for
from .stages import STAGES, Stage, _unwrap

__all__ = ["ResumeError", "Trainer", "lr_factor", "validate", "load_initial_generator", "csv_fields", "precision_label"]

log = logging.getLogger(__name__)
HEAD_FIELDS = ["step", "epoch", "lr", "loss_g", "loss_d"]  # then one loss_<name> column per declared loss term
TAIL_FIELDS = ["d_real", "d_fake", "psnr", "ssim", "mse", "data_time", "step_time", "precision", "wall"]


def csv_fields(cfg: TrainConfig) -> list[str]:
    """metrics.csv's columns: derived from the declared loss terms, so none is ever dropped."""
    tail = TAIL_FIELDS[:2] + ["d_r1"] + TAIL_FIELDS[2:] if cfg.d_r1 and cfg.stage == "srgan" else TAIL_FIELDS
    return HEAD_FIELDS + cfg.objective().columns + tail


def precision_label(cfg: TrainConfig) -> str:
    """What a step computes in, for metrics.csv and the model card: 'fp32', 'bf16' or 'fp16'
    (autocast), plus '+fused-tail' when the SRResNet tail runs in its fused form."""
    label = {"none": "fp32"}.get(cfg.amp, cfg.amp)
    return label + ("+fused-tail" if cfg.fused_tail and cfg.model.arch == "srresnet" else "")


class ResumeError(RuntimeError):
    """--resume found checkpoints but could read none of them."""


def single_threaded_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: one BLAS/OpenMP thread per worker. NumPy's BLAS (under
    ``imresize``) otherwise starts a thread per core in every worker; on a 16-core GPU host, 14
    workers x 16 threads made data loading 0.33 s of a 0.6 s step (0.04 s once limited)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


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


def validate(
    model: nn.Module, pairs: PairedImages, scale: int, device: torch.device, keep: int = 0
) -> tuple[dict[str, float], list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]]:
    """Mean PSNR/SSIM (Y, shave=scale) and RGB MSE over a benchmark folder, plus the first ``keep``
    (name, lr, sr, hr)."""
    was_training = model.training
    model.eval()
    rows, samples = [], []
    for name, lr, hr in pairs:
        sr = upscale_array(model, lr, scale, tile=None, device=device)
        sr8 = quantize(sr.mean(axis=2) if hr.ndim == 2 else sr, 8)
        rows.append(evaluate_pair(sr8, hr, scale))
        if len(samples) < keep:
            samples.append((name, lr, sr8, hr))
    model.train(was_training)
    return {k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "ssim", "mse")}, samples


def _transfer_scale(
    weights: dict[str, torch.Tensor], own: dict[str, torch.Tensor], source: str
) -> dict[str, torch.Tensor]:
    """Weights of a generator of another scale, mapped onto ``own``: head, body, body_end and
    tail are shared as they are; upsampling block i takes the source's block i, or its last
    one when the target has more. Same-scale weights are returned unchanged."""
    n_src = len({k.split(".")[1] for k in weights if k.startswith("upsample.")})
    n_own = len({k.split(".")[1] for k in own if k.startswith("upsample.")})
    if n_src == n_own or n_src == 0:
        return weights
    out = {k: v for k, v in weights.items() if not k.startswith("upsample.")}
    for i in range(n_own):
        j = min(i, n_src - 1)
        out.update(
            {f"upsample.{i}.{k.split('.', 2)[2]}": v for k, v in weights.items() if k.startswith(f"upsample.{j}.")}
        )
    log.info(
        "init_generator %s: x%d weights transferred to x%d (trunk and tail shared, upsampling blocks %s)",
        source,
        2**n_src,
        2**n_own,
        ", ".join(str(min(i, n_src - 1)) for i in range(n_own)),
    )
    return out


def load_initial_generator(source: str, generator: nn.Module) -> None:
    """Initialise G from a packaged model, a .safetensors file or a training run (its EMA weights).
    A source of another scale initialises everything but the extra or missing upsampling blocks
    (fine-tuning a x2 model from a x4 one, say)."""
    path = Path(source)
    if path.is_dir():
        try:
            weights = generator_from_run(path)[0].state_dict()
        except FileNotFoundError as exc:
            raise ConfigError(f"init_generator: {exc}") from None
    else:
        from ..hub import load_generator

        loaded, _ = load_generator(source)
        weights = loaded.state_dict()
    own = generator.state_dict()
    weights = _transfer_scale(weights, own, source)
    bad = [k for k in own if k not in weights or weights[k].shape != own[k].shape]
    if bad:
        raise ConfigError(
            f"init_generator {source}: weights do not fit model {generator.arch} {generator.hparams} (first mismatch: "
            f"{bad[0]})"
        )
    generator.load_state_dict({k: weights[k] for k in own})


class Trainer:
    """Runs a :class:`TrainConfig` to completion; resumes from ``out_dir`` if asked. DDP under ``torchrun``."""

    def __init__(
        self, cfg: TrainConfig, resume: bool = False, restart: bool = False, trust_unverified: bool = False
    ) -> None:
        """``resume``: continue from the newest readable checkpoint. When checkpoints exist but none
        can be read, that is an error unless ``restart`` (they are set aside and training starts
        over). ``trust_unverified``: load checkpoints of older srgan versions without a digest."""
        cfg.data.require_train()
        self.cfg = cfg
        self.out = Path(cfg.out_dir)
        self.ckpt_dir = self.out / "checkpoints"
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = resolve_device(cfg.device)
        self.dist: DistInfo = init_distributed(self.device.type)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed crop sizes: let cuDNN pick the fastest kernels
        if not resume and any(self.ckpt_dir.glob("ckpt_*.pt")):
            raise FileExistsError(
                f"{self.ckpt_dir} already has checkpoints: pass --resume to continue, or choose another out_dir"
            )
        if cfg.amp == "auto":  # resolved here, so that config.json and the model card record what ran
            from ..hardware import auto_amp

            cfg.amp = auto_amp(self.device.type)
            log.info("amp: auto -> %s on %s", cfg.amp, self.device.type)
        if cfg.amp == "fp16" and self.device.type != "cuda":
            raise ConfigError("amp: fp16 needs CUDA; use bf16 or none on this device")
        if cfg.data.batch_size % self.dist.world_size:
            raise ConfigError(
                f"data.batch_size {cfg.data.batch_size} (global) must be divisible by the world size "
                f"{self.dist.world_size}"
            )
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)
        m = cfg.model
        memory = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.generator = build_generator(m.arch, **m.kwargs())
        if cfg.init_generator and not resume:
            load_initial_generator(cfg.init_generator, self.generator)
        self.generator = self.generator.to(self.device, memory_format=memory)
        if hasattr(self.generator, "fused_tail"):
            self.generator.fused_tail = cfg.fused_tail
        self.ema = EMA(self.generator, cfg.ema_decay) if cfg.ema_decay else None
        g_train = self._wrap(self.generator)
        stage_cls = STAGES[cfg.stage]
        if stage_cls.uses_discriminator:
            if not cfg.init_generator and not resume:
                log.warning(
                    "adversarial stage without init_generator: the paper initialises G from a pre-trained "
                    "generator; from scratch it is known to fail"
                )
            self.discriminator = build_discriminator(cfg.discriminator.arch, **cfg.discriminator.options).to(
                self.device, memory_format=memory
            )
            self.stage: Stage = stage_cls(g_train, self._wrap(self.discriminator), cfg, self.device)
        else:
            self.stage = stage_cls(g_train, cfg, self.device)
        self.step = 0
        self._fields = csv_fields(cfg)
        self._header: list[str] | None = None  # metrics.csv's columns, once known
        self.restart, self.trust_unverified = restart, trust_unverified
        if resume:
            self._resume()
        if self.dist.is_main:
            (self.out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        self._tb = None

    def _wrap(self, module: nn.Module) -> nn.Module:
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            module = DistributedDataParallel(
                module, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        if self.cfg.compile:
            module = torch.compile(module)
        return module

    # --- state -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "stage": self.stage.state_dict(),
            "ema": self.ema.state_dict() if self.ema else None,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "config": json.dumps(self.cfg.to_dict()),
        }

    def _resume(self) -> None:
        found = load_latest_checkpoint(self.ckpt_dir, self.trust_unverified)
        if found is None:
            damaged = list_checkpoints(self.ckpt_dir)
            if damaged and not self.restart:
                raise ResumeError(
                    f"--resume: none of the {len(damaged)} checkpoints in {self.ckpt_dir} is readable (see the "
                    "warnings "
                    "above); pass --restart to set them aside and start over"
                )
            if damaged and self.dist.is_main:
                moved = set_aside_unreadable(self.ckpt_dir)
                log.warning("set %d unreadable checkpoints aside (%s ...)", len(moved), moved[0].name)
            log.warning("no readable checkpoint in %s: starting from scratch", self.ckpt_dir)
            if self.cfg.init_generator:
                load_initial_generator(self.cfg.init_generator, _unwrap(self.stage.generator))
                if self.ema:
                    self.ema = EMA(self.generator, self.cfg.ema_decay)
            return
        state, path = found
        self.stage.load_state_dict(state["stage"])
        if self.ema and state.get("ema"):
            self.ema.load_state_dict(state["ema"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.step = int(state["step"])
        log.info("resumed from %s at step %d", path, self.step)

    def save(self) -> Path | None:
        check_replicas_in_sync(self.generator, self.dist)
        if not self.dist.is_main:
            return None
        return save_checkpoint(self.state_dict(), self.ckpt_dir, self.step, self.cfg.keep_checkpoints)

    def eval_model(self) -> nn.Module:
        """The weights to validate and export: EMA if enabled."""
        return self.ema.module if self.ema else self.generator

    # --- logging -------------------------------------------------------------------------
    def _log_row(self, row: dict[str, Any]) -> None:
        path = self.out / "metrics.csv"
        new = not path.exists()
        if new:
            self._header = self._fields
        elif self._header is None or set(row) - set(self._header):  # widen the header of an older log once
            self._rewrite_log(lambda r: True)
        with path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self._header, extrasaction="raise", restval="")
            if new:
                w.writeheader()
            w.writerow(row)
        tb = self._tensorboard()
        if tb is not None:
            for k, v in row.items():
                if k not in ("step", "epoch", "wall") and isinstance(v, (int, float)):
                    tb.add_scalar(k, v, self.step)

    def _tensorboard(self):
        if self._tb is None and self.cfg.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                log.warning(
                    "tensorboard is not installed (pip install 'srgan[tensorboard]'); logging to metrics.csv only"
                )
                self.cfg.tensorboard = False
                return None
            self._tb = SummaryWriter(str(self.out / "tensorboard"), purge_step=self.step + 1 if self.step else None)
        return self._tb

    def _log_images(self, samples) -> None:
        tb = self._tensorboard()
        if tb is None:
            return
        from ..figures import comparison_strip

        for name, lr, sr, hr in samples:
            tb.add_image(
                f"val/{name}", comparison_strip(lr, sr, hr, self.cfg.model.scale), self.step, dataformats="HWC"
            )

    def _truncate_log(self) -> None:
        """Drop CSV rows logged after the resumed step (they will be redone)."""
        self._rewrite_log(lambda r: int(r["step"]) <= self.step)

    def _rewrite_log(self, keep) -> None:
        """Rewrite metrics.csv with the rows that ``keep``, under this run's columns plus any older ones."""
        path = self.out / "metrics.csv"
        if not path.exists():
            return
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            rows, old = list(reader), list(reader.fieldnames or [])
        fields = self._header = self._fields + [c for c in old if c not in self._fields]
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields, restval="")
            w.writeheader()
            w.writerows(r for r in rows if keep(r))

    # --- loop ----------------------------------------------------------------------------
    def _loader(self) -> tuple[DataLoader, float]:
        cfg, d = self.cfg, self.cfg.data
        t0 = time.perf_counter()
        cache = (ImageCache if d.cache else ImageFiles)(d.train, min_size=d.crop, exclude=d.exclude)
        log.info(
            "indexed %d training images (%.1f MP) in %.1fs", len(cache), cache.megapixels, time.perf_counter() - t0
        )
        sampler = StepBatchSampler(
            d.batch_size // self.dist.world_size, self.step, cfg.steps, self.dist.rank, self.dist.world_size
        )
        schedule = [(sampler.first_index(end), c) for end, c in d.crop_steps(cfg.steps)]  # in sample indices
        dataset = RandomCropDataset(cache, cfg.model.scale, d.crop, d.augment, cfg.seed, d.degrader(), schedule)
        loader = DataLoader(
            dataset,
            batch_sampler=sampler,
            num_workers=d.num_workers,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if d.num_workers else None,
            worker_init_fn=single_threaded_worker,
        )
        return loader, len(cache) / d.batch_size

    def fit(self, progress: bool = True) -> dict[str, float]:
        """Train to ``cfg.steps``. Ctrl-C / SIGTERM finish the current step, save a checkpoint
        and raise ``KeyboardInterrupt`` (a second Ctrl-C aborts at once)."""
        stop = threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():

            def handler(signum, frame):
                if stop.is_set():
                    raise KeyboardInterrupt
                stop.set()

            previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        self._split: SplitBatches | None = None
        try:
            return self._fit(progress, stop)
        finally:
            if self._split is not None:  # its helper processes exit, however the loop ended
                self._split.close()
            for sig, h in previous.items():
                signal.signal(sig, h)

    def _fit(self, progress: bool, stop: threading.Event) -> dict[str, float]:
        cfg = self.cfg
        main = self.dist.is_main
        if main:
            self._truncate_log()
        loader, epoch_len = self._loader()
        precision = precision_label(cfg)
        val = PairedImages(cfg.data.val, cfg.model.scale) if cfg.data.val and main else None
        bar = tqdm(
            total=cfg.steps, initial=self.step, disable=not (progress and main), dynamic_ncols=True, desc=cfg.name
        )
        last: dict[str, float] = {}
        acc: dict[str, float] = {}
        n_acc, data_t, step_t = 0, 0.0, 0.0
        memory = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.stage.generator.train()
        t_data = time.perf_counter()
        batches = self._batches(loader)
        for lr_img, hr_img in batches:
            t_step = time.perf_counter()
            data_t += t_step - t_data
            factor = lr_factor(self.step, cfg)
            for key, opt in self.stage.optimizers.items():
                for group in opt.param_groups:
                    group["lr"] = self.stage.base_lrs[key] * factor
            lr_img = lr_img.to(self.device, non_blocking=True).contiguous(memory_format=memory)
            hr_img = hr_img.to(self.device, non_blocking=True).contiguous(memory_format=memory)
            losses = self.stage.train_step(lr_img, hr_img)
            values = {k: float(v) for k, v in losses.items()}
            bad = [k for k, v in values.items() if not math.isfinite(v)]
            if bad:
                bar.close()
                raise FloatingPointError(
                    f"non-finite {', '.join(bad)} at step {self.step + 1}; stopping. The last good checkpoint is kept "
                    f"in {self.ckpt_dir}"
                )
            if self.ema:
                self.ema.update(_unwrap(self.stage.generator))
            self.step += 1
            for k, v in values.items():
                acc[k] = acc.get(k, 0.0) + v
            n_acc += 1
            t_data = time.perf_counter()
            step_t += t_data - t_step
            bar.update(1)
            row = None
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                row = all_reduce_mean({k: v / n_acc for k, v in acc.items()}, self.dist)
                row.update(data_time=data_t / n_acc, step_time=step_t / n_acc)
                acc, n_acc, data_t, step_t = {}, 0, 0.0, 0.0
                bar.set_postfix(
                    loss=f"{row['loss_g']:.4f}",
                    data=f"{row['data_time'] / max(row['data_time'] + row['step_time'], 1e-9):.0%}",
                )
            if val is not None and (self.step % cfg.val_every == 0 or self.step == cfg.steps):
                metrics, samples = validate(
                    self.eval_model(), val, cfg.model.scale, self.device, keep=4 if cfg.tensorboard else 0
                )
                row = {**(row or {}), **metrics}
                last = metrics
                bar.write(
                    f"step {self.step}: PSNR {metrics['psnr']:.2f} dB  SSIM {metrics['ssim']:.4f}  MSE "
                    f"{metrics['mse']:.5f}"
                )
                self._log_images(samples)
            if row is not None and main:
                row.update(
                    step=self.step,
                    epoch=round(self.step / epoch_len, 3),
                    lr=self.stage.optimizers["g"].param_groups[0]["lr"],
                    precision=precision,
                    wall=time.time(),
                )
                self._log_row(row)
            if self.step % cfg.ckpt_every == 0 or self.step == cfg.steps or stop.is_set():
                self.save()
            if stop.is_set():
                bar.close()
                log.warning(
                    "interrupted: saved a checkpoint at step %d in %s; continue with --resume", self.step, self.ckpt_dir
                )
                raise KeyboardInterrupt
            t_data = time.perf_counter()
        bar.close()
        if self._tb is not None:
            self._tb.close()
        cleanup_distributed(self.dist)
        return last

    def _batches(self, loader: DataLoader) -> Iterable:
        """The loader itself with workers; else batches made between steps, by this process and
        the ``data.batch_helpers`` processes (:mod:`.split_batches`)."""
        if self.cfg.data.num_workers:
            return loader
        helpers = helpers_for(self.cfg.data.batch_helpers, torch.get_num_threads())
        if helpers:
            self._split = SplitBatches(loader.dataset, loader.batch_sampler, helpers)
            return self._split
        return batches_in_process(loader)
