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

__all__ = [
    "ConfigError",
    "ModelConfig",
    "DiscriminatorConfig",
    "DataConfig",
    "OptimConfig",
    "TrainConfig",
    "load_config",
    "apply_overrides",
]


class ConfigError(ValueError):
    """A configuration file or override is invalid."""


@dataclass
class ModelConfig:
    """The generator: an architecture of :mod:`srgan.models.registry` and its constructor arguments.
    ``num_blocks`` and ``channels`` left out take the architecture's defaults (filled in by
    :meth:`validate`, so that saved configs are explicit)."""

    arch: str = "srresnet"
    scale: int = 4
    num_blocks: int | None = None
    channels: int | None = None
    options: dict[str, Any] = field(
        default_factory=dict
    )  # further constructor arguments, e.g. rrdbnet's growth_channels

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the architecture's constructor."""
        out: dict[str, Any] = {"scale": self.scale, **self.options}
        out.update({k: v for k, v in (("num_blocks", self.num_blocks), ("channels", self.channels)) if v is not None})
        return out

    def validate(self) -> None:
        from ..models.registry import ArchError, check_params, get_arch

        try:
            arch = get_arch(self.arch)
            check_params(arch.build, self.kwargs(), f"architecture '{self.arch}'")
        except ArchError as exc:
            raise ConfigError(f"model: {exc}") from None
        for key in ("num_blocks", "channels"):
            if getattr(self, key) is None and key in arch.defaults:
                setattr(self, key, arch.defaults[key])
        _check(self.scale in (2, 3, 4, 8), "model.scale", "must be 2, 3, 4 or 8")
        _check(self.num_blocks is None or self.num_blocks >= 0, "model.num_blocks", "must be >= 0")
        _check(self.channels is None or self.channels >= 1, "model.channels", "must be >= 1")


@dataclass
class DiscriminatorConfig:
    """The SRGAN stage's discriminator: a name in ``srgan.models.registry.DISCRIMINATORS``."""

    arch: str = "srgan"
    options: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        from ..models.registry import DISCRIMINATORS, ArchError, check_params

        if self.arch not in DISCRIMINATORS:
            raise ConfigError(f"discriminator.arch: unknown '{self.arch}' (known: {', '.join(DISCRIMINATORS)})")
        try:
            check_params(DISCRIMINATORS[self.arch], self.options, f"discriminator '{self.arch}'")
        except ArchError as exc:
            raise ConfigError(f"discriminator.options: {exc}") from None


@dataclass
class DataConfig:
    train: list[str] = field(default_factory=list)
    # glob patterns of training files to leave out, relative to each train folder (a held-out set)
    exclude: list[str] = field(default_factory=list)
    val: str | None = None
    crop: int = 96
    # smaller HR crops early in a run, [[until, crop], ...]: `crop` px until that fraction of `steps`,
    # then the next entry's, then `crop` (progressive crops; fewer multiply-adds per early step)
    crop_schedule: list[list[float]] = field(default_factory=list)
    batch_size: int = 16
    num_workers: int = 0
    # with num_workers 0: processes that make part of each batch while the step waits (auto: one per
    # intra-op thread beyond the first; 0: this process alone). Same batches, bit for bit.
    batch_helpers: int | str = "auto"
    augment: bool = True
    cache: bool = True  # decode every image once into memory; false: decode per sample (use sub-images + workers)
    # how LR crops are made: bicubic (the benchmark protocol), realistic (Real-ESRGAN), jpeg, noise, blur, or a
    # preset of srgan.degradations; a mapping sets parameters: {type: realistic, jpeg_range: [50, 95]}
    degradation: str | dict[str, Any] = field(default_factory=lambda: {"type": "bicubic"})

    def require_train(self) -> None:
        """Training needs data: packaged recipes name none, the user gives it."""
        _check(
            len(self.train) > 0,
            "data.train",
            "no training images: pass --data FOLDER (repeatable) or --set data.train=FOLDER",
        )

    @property
    def min_crop(self) -> int:
        """The smallest HR crop of the run (losses and D must fit it)."""
        return min([self.crop] + [int(c) for _, c in self.crop_schedule])

    def crop_steps(self, steps: int) -> list[tuple[int, int]]:
        """``crop_schedule`` in steps: ``(end_step, crop)`` pairs, ``crop`` from the previous end."""
        return [(int(round(float(f) * steps)), int(c)) for f, c in self.crop_schedule]

    def validate(self) -> None:
        _check(self.crop > 0 and self.batch_size > 0, "data", "crop and batch_size must be positive")
        ok = all(isinstance(e, (list, tuple)) and len(e) == 2 for e in self.crop_schedule)
        _check(ok, "data.crop_schedule", "must be a list of [until, crop] pairs, until a fraction of steps")
        ends = [float(f) for f, _ in self.crop_schedule]
        _check(
            all(0 < f <= 1 for f in ends) and ends == sorted(set(ends)),
            "data.crop_schedule",
            f"each until must be a fraction of the steps in (0, 1], increasing, got {ends}",
        )
        _check(
            all(int(c) == c and 0 < c <= self.crop for _, c in self.crop_schedule),
            "data.crop_schedule",
            f"each crop must be a whole number of px from 1 up to data.crop ({self.crop})",
        )
        self.crop_schedule = [[float(f), int(c)] for f, c in self.crop_schedule]  # crops print as 48, not 48.0
        _check(
            self.batch_helpers == "auto" or (isinstance(self.batch_helpers, int) and self.batch_helpers >= 0),
            "data.batch_helpers",
            f"must be auto or a number >= 0, got {self.batch_helpers!r}",
        )
        if isinstance(self.degradation, str):  # a name alone: data.degradation=realistic
            self.degradation = {"type": self.degradation}
        self.degrader()

    def degrader(self):
        """The configured :mod:`srgan.degradations` object (None for plain bicubic)."""
        from ..degradations import Bicubic, build_degradation

        try:
            made = build_degradation(self.degradation)
        except ValueError as exc:
            raise ConfigError(f"data.degradation: {exc}") from None
        return None if type(made) is Bicubic else made


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
        _check(
            len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "optim.betas", "must be two numbers in [0, 1)"
        )


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
    amp: str = "none"  # none | bf16 | fp16 (fp16 uses a GradScaler; CUDA) | auto (bf16 where the hardware has it)
    compile: bool = False
    fused_tail: bool = True  # srresnet: the 9x9 output conv computed before the last shuffle (same function, faster)
    d_lr: float | None = None  # discriminator learning rate (default: optim.lr)
    d_random_shift: int = 0  # D sees SR/HR pairs cropped at a random 0..N px offset (breaks grid artefacts)
    d_r1: float = 0.0  # gamma of the R1 penalty, gamma/2 E||grad D(x)||^2 on real crops, in D's loss (0: off)
    # srgan stage: d_first (D updated on G(z), then G against the updated D: 3 D passes) or g_first
    # (G against D, then D on the same fake pass, as BasicSR/ESRGAN: 2 D passes, a cheaper step)
    gan_order: str = "d_first"
    tensorboard: bool = True
    model: ModelConfig = field(default_factory=ModelConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    # the generator's objective: a list of {type, weight, [name], ...params} (see srgan.losses.registry)
    loss: list[dict[str, Any]] = field(default_factory=lambda: [{"type": "pixel", "weight": 1.0, "norm": "mse"}])

    def validate(self) -> None:
        from .stages import STAGES

        _check(self.stage in STAGES, "stage", f"must be one of {', '.join(STAGES)}")
        self.data.validate()  # first: the checks below read its crop schedule
        _check(self.amp in ("none", "bf16", "fp16", "auto"), "amp", "must be none, bf16, fp16 or auto")
        _check(self.steps > 0, "steps", "must be positive")
        _check(
            0 <= self.d_random_shift < self.data.min_crop // 2,
            "d_random_shift",
            "must be >= 0 and below half the (smallest) crop",
        )
        _check(self.gan_order in ("d_first", "g_first"), "gan_order", "must be d_first or g_first")
        _check(self.d_r1 >= 0, "d_r1", "must be >= 0")
        _check(self.ema_decay is None or 0 < self.ema_decay < 1, "ema_decay", "must be in (0, 1) or null")
        _check(
            self.data.crop % self.model.scale == 0,
            "data.crop",
            f"must be a multiple of model.scale ({self.model.scale})",
        )
        _check(
            all(int(c) % self.model.scale == 0 for _, c in self.data.crop_schedule),
            "data.crop_schedule",
            f"each crop must be a multiple of model.scale ({self.model.scale})",
        )
        for sub in (self.model, self.discriminator, self.optim):  # self.data: above
            sub.validate()
        self.objective()

    def objective(self):
        """The :class:`~srgan.losses.Objective` of ``loss``, checked against this config."""
        from ..losses import LossSpecError, Objective
        from .stages import STAGES

        try:
            obj = Objective(self.loss)
            for i, t in enumerate(obj.terms):
                try:
                    t.check(self)
                except ValueError as exc:
                    raise LossSpecError(f"loss[{i}] ({t.name}): {exc}") from None
        except LossSpecError as exc:
            raise ConfigError(str(exc)) from None
        active = [t for t in obj.terms if t.weight > 0]
        _check(
            any(t.content for t in active),
            "loss",
            "needs a content term with weight > 0 (pixel, vgg, feature_matching ...)",
        )
        needs_d = [t.name for t in active if t.needs_discriminator]
        _check(
            STAGES[self.stage].uses_discriminator or not needs_d,
            "loss",
            f"{', '.join(needs_d)} needs the discriminator: use it in an srgan stage",
        )
        return obj

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
        error = None
        for inner in (a for a in args if a is not type(None)):  # the first type the value fits
            try:
                return _coerce(value, inner, key)
            except ConfigError as exc:
                error = exc
        raise error
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return {str(k): v for k, v in value.items()}
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
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (tp is int and isinstance(value, float) and not value.is_integer())
        ):
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
    if cls is TrainConfig and isinstance(data.get("loss"), dict):  # a flat loss section from before the registry
        from ..losses import LossSpecError, legacy_terms

        try:
            data = {**data, "loss": legacy_terms(data["loss"], str(data.get("stage", "srresnet")))}
        except LossSpecError as exc:
            raise ConfigError(str(exc)) from None
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


def _term(terms: list, name: str, item: str) -> dict[str, Any] | None:
    """The loss term called ``name`` (its ``name``, else its ``type``) in a term list."""
    found = [t for t in terms if isinstance(t, dict) and t.get("name", t.get("type")) == name]
    if len(found) > 1:
        raise ConfigError(f"override '{item}': several loss terms are called '{name}'; give them names")
    return found[0] if found else None


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b=value`` strings (values parsed as YAML) to a raw config dict. In the loss
    list a term is addressed by its name or type: ``loss.shift.weight=5``; ``loss.vgg={type: vgg,
    weight: 0.006}`` replaces or adds a whole term, ``loss.vgg=null`` removes it."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like key=value")
        key, text = item.split("=", 1)
        value = yaml.safe_load(text)
        node: Any = raw
        parts = key.strip().split(".")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):  # the loss list
                term = _term(node, part, item)
                names = ", ".join(str(t.get("name", t.get("type"))) for t in node if isinstance(t, dict))
                if term is None and not (last and isinstance(value, dict) or value is None):
                    raise ConfigError(
                        f"override '{item}': no loss term '{part}' (terms: {names}); set a parameter with "
                        "loss.<term>.<param>=value"
                    )
                if last:
                    if term is not None:
                        node.remove(term)
                    if value is not None:
                        if not isinstance(value, dict):
                            raise ConfigError(
                                f"override '{item}': a loss term is a mapping such as {{type: {part}, weight: 1.0}}"
                            )
                        node.append(
                            {"name": part, **value} if value.get("type", part) != part else {"type": part, **value}
                        )
                    break
                node = term
            elif last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
                if not isinstance(node, (dict, list)):
                    raise ConfigError(f"override '{item}': {part} is not a section")
    return raw


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None, raw: dict | None = None
) -> TrainConfig:
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
