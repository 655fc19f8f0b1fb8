"""Training configuration: nested dataclasses loaded from YAML with strict keys.

Unknown keys, wrong types and bad values raise :class:`ConfigError` with the
offending dotted path (and a suggestion for typos), never a silent default.
"""
from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ConfigError", "ModelConfig", "DataConfig", "OptimConfig", "LossConfig", "TrainConfig", "load_config", "apply_overrides"]


class ConfigError(ValueError):
    """A configuration file or override is invalid."""


@dataclass
class ModelConfig:
    scale: int = 4
    num_blocks: int = 16
    channels: int = 64

    def validate(self) -> None:
        _check(self.scale in (2, 4, 8), "model.scale", "must be 2, 4 or 8")
        _check(self.num_blocks >= 1, "model.num_blocks", "must be >= 1")


@dataclass
class DataConfig:
    train: list[str] = field(default_factory=list)
    val: str | None = None
    crop: int = 96
    batch_size: int = 16
    num_workers: int = 0
    augment: bool = True
    cache: bool = True  # decode every image once into memory; false: decode per sample (use sub-images + workers)

    def validate(self) -> None:
        _check(len(self.train) > 0, "data.train", "needs at least one folder of HR images")
        _check(self.crop > 0 and self.batch_size > 0, "data", "crop and batch_size must be positive")


@dataclass
class OptimConfig:
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)  # the spec's Adam betas
    weight_decay: float = 0.0
    schedule: str = "constant"  # constant | step | cosine
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    warmup_steps: int = 0
    min_lr: float = 0.0
    grad_clip: float | None = None

    def validate(self) -> None:
        _check(self.schedule in ("constant", "step", "cosine"), "optim.schedule", "must be constant, step or cosine")
        _check(self.lr > 0, "optim.lr", "must be positive")
        _check(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "optim.betas", "must be two numbers in [0, 1)")


@dataclass
class LossConfig:
    """Content loss = pixel_weight * pixel + vgg_weight * VGG(layer); the SRGAN stage adds
    adversarial_weight * l_Gen and, optionally, feature_matching_weight * D feature matching."""

    pixel: str = "mse"  # mse | l1
    pixel_weight: float = 1.0
    vgg_weight: float = 0.0
    vgg_layer: str = "relu5_4"  # the paper's phi_5,4; the spec's features[:34] is relu5_3
    vgg_rescale: float = 1.0  # the paper rescales features by 1/12.75
    vgg_weights: str | None = None  # local file instead of the torchvision download
    adversarial_weight: float = 1e-3
    feature_matching_weight: float = 0.0  # SRGAN stage: L1 between D's features of SR and HR (no VGG needed)
    lattice_weight: float = 0.0  # penalise a pattern on the x{scale} output lattice (see losses.lattice_loss)
    lattice_window: int = 0  # 0: one pattern over the batch; W: one per W x W output tile (a multiple of the scale)
    block_weight: float = 0.0  # penalise edges that favour block boundaries of the x{scale} lattice (see losses.block_loss)
    chroma_weight: float = 0.0  # extra L1 on the Cb, Cr chroma of SR against HR (see losses.chroma_loss)
    shift_weight: float = 0.0  # sub-pixel shift equivariance of G (see losses.shift_equivariance_loss)
    shift_samples: int = 0  # how many crops of each batch give a pair of windows (unmoved, moved); 0: half the batch
    shift_norm: str = "l1"  # l1 | mse: the distance of the shift term
    shift_margin: int = 0  # output pixels left out at each side of the compared region (0: borders included)

    def validate(self) -> None:
        from ..models.vgg import VGG19_LAYERS

        _check(self.pixel in ("mse", "l1"), "loss.pixel", "must be mse or l1")
        _check(self.shift_norm in ("mse", "l1"), "loss.shift_norm", "must be mse or l1")
        _check(self.vgg_layer in VGG19_LAYERS, "loss.vgg_layer", "must be a VGG19 layer name such as relu2_2, relu5_3, relu5_4")
        _check(min(self.pixel_weight, self.vgg_weight, self.adversarial_weight, self.feature_matching_weight, self.lattice_weight, self.block_weight, self.chroma_weight, self.shift_weight) >= 0, "loss", "weights must be >= 0")
        _check(self.pixel_weight > 0 or self.vgg_weight > 0 or self.feature_matching_weight > 0, "loss",
               "needs a content loss: pixel_weight, vgg_weight or feature_matching_weight > 0")


@dataclass
class TrainConfig:
    name: str = "srresnet"
    stage: str = "srresnet"  # srresnet (pixel loss only) | srgan (adds the discriminator)
    init_generator: str | None = None  # SRGAN stage: a packaged model, .safetensors file or training run folder
    out_dir: str = "runs/srresnet"
    seed: int = 0
    steps: int = 1000
    log_every: int = 50
    val_every: int = 500
    ckpt_every: int = 500
    keep_checkpoints: int = 3
    ema_decay: float | None = 0.999
    channels_last: bool = True
    threads: int | None = None
    device: str = "auto"
    amp: str = "none"  # none | bf16 | fp16 (fp16 uses a GradScaler; CUDA)
    compile: bool = False
    d_lr: float | None = None  # discriminator learning rate (default: optim.lr)
    d_random_shift: int = 0  # D sees SR/HR pairs cropped at a random 0..N px offset (breaks grid artefacts)
    tensorboard: bool = True
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    def validate(self) -> None:
        _check(self.stage in ("srresnet", "srgan"), "stage", "must be srresnet or srgan")
        _check(self.amp in ("none", "bf16", "fp16"), "amp", "must be none, bf16 or fp16")
        _check(self.steps > 0, "steps", "must be positive")
        _check(0 <= self.d_random_shift < self.data.crop // 2, "d_random_shift", "must be >= 0 and below half the crop")
        _check(0 <= self.loss.lattice_window <= self.data.crop and self.loss.lattice_window % self.model.scale == 0, "loss.lattice_window",
               f"must be 0 (the whole batch) or a multiple of the scale ({self.model.scale}) up to the crop ({self.data.crop})")
        _check(0 <= self.loss.shift_samples <= self.data.batch_size, "loss.shift_samples", f"must be 0 (half the batch) up to the batch size ({self.data.batch_size})")
        _check(self.loss.shift_weight == 0 or 0 <= self.loss.shift_margin and 2 * (self.loss.shift_margin + self.model.scale) <= self.data.crop, "loss.shift_margin",
               f"must be >= 0 and leave a region of the {self.data.crop} px crop to compare")
        _check(self.ema_decay is None or 0 < self.ema_decay < 1, "ema_decay", "must be in (0, 1) or null")
        _check(self.stage == "srgan" or self.loss.feature_matching_weight == 0, "loss.feature_matching_weight",
               "needs the discriminator: use it in an srgan stage")
        _check(self.stage == "srgan" or self.loss.pixel_weight > 0 or self.loss.vgg_weight > 0, "loss",
               "an srresnet stage needs pixel_weight or vgg_weight > 0")
        _check(self.data.crop % self.model.scale == 0, "data.crop", f"must be a multiple of model.scale ({self.model.scale})")
        for sub in (self.model, self.data, self.optim, self.loss):
            sub.validate()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check(ok: bool, key: str, msg: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {msg}")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if origin in (list, tuple):
        if isinstance(value, (str, int, float)) and origin is list:
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        items = [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp in (int, float):
        if isinstance(value, str):  # YAML 1.1 reads '1e-4' (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (tp is int and isinstance(value, float) and not value.is_integer()):
            raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r}")
        return tp(value)
    if tp is str:
        if not isinstance(value, (str, int, float)):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    return value


def _build(cls: Any, data: Any, prefix: str = "") -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (valid keys: {', '.join(names)})"
            raise ConfigError(f"unknown config key '{path}'{hint}")
        kwargs[key] = _coerce(value, hints[key], path)
    return cls(**kwargs)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b=value`` strings (values parsed as YAML) to a raw config dict."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like key=value")
        key, text = item.split("=", 1)
        node = raw
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}': {part} is not a section")
        node[parts[-1]] = yaml.safe_load(text)
    return raw


def load_config(path: str | Path | None = None, overrides: list[str] | None = None, raw: dict | None = None) -> TrainConfig:
    """Read a YAML file (or a raw dict), apply overrides, build and validate."""
    data: dict[str, Any] = dict(raw or {})
    if path is not None:
        text = Path(path).read_text()
        loaded = yaml.safe_load(text) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
        data = loaded
    data = apply_overrides(data, overrides or [])
    cfg = _build(TrainConfig, data)
    cfg.validate()
    return cfg
