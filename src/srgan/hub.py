"""Model files: safetensors with a JSON config, packaged models, ``from_pretrained``.

A model file is ``<name>.safetensors`` whose metadata key ``srgan_config``
holds a JSON config (``arch`` and its constructor arguments, recipe, metrics). A JSON file
of the same name beside it, if present, overrides/extends that config (model
card data). Pickle-based ``.pth``/``.pt`` files load only when explicitly
allowed, and then only with ``torch.load(weights_only=True)``; their layout (ours or a
community one, see :mod:`srgan.convert`) is recognised from the key names.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from .convert import ConvertError, detect_layout, fill_bn_counters, unwrap_state
from .models.registry import ArchError, build_generator, generator_config, get_arch

__all__ = [
    "ModelFileError",
    "save_generator",
    "load_generator",
    "interpolate_generators",
    "read_config",
    "packaged_models",
    "resolve_model_path",
    "read_state_file",
    "mmse_reference",
    "DEFAULT_MODEL",
]

DEFAULT_MODEL = "srresnet-x4"
CONFIG_KEY = "srgan_config"
PICKLE_SUFFIXES = {".pth", ".pt", ".pkl", ".ckpt", ".bin"}
LEGACY_ARCH_KEY = "architecture"  # files written before the arch registry; their value is always srresnet


class ModelFileError(ValueError):
    """A model name or weight file cannot be used; the message says why."""


def _weights_dir() -> Path:
    return Path(str(resources.files("srgan") / "weights"))


def packaged_models(models_dir: str | Path | None = None) -> dict[str, Path]:
    """Name -> path of every model shipped in the package, plus the ``.safetensors`` files of
    ``models_dir`` (which shadow nothing: a packaged name wins)."""
    found: dict[str, Path] = {}
    for d in ([Path(models_dir)] if models_dir else []) + [_weights_dir()]:
        if d.is_dir():
            found.update({p.stem: p for p in sorted(d.glob("*.safetensors"))})
    return found


def resolve_model_path(name_or_path: str | Path, models_dir: str | Path | None = None) -> Path:
    """A packaged model name (or one in ``models_dir``) or an existing file path."""
    models = packaged_models(models_dir)
    if str(name_or_path) in models:
        return models[str(name_or_path)]
    path = Path(name_or_path)
    if path.is_file():
        return path
    names = ", ".join(models) or "none installed"
    raise ModelFileError(f"model '{name_or_path}' not found: not a packaged model ({names}) and not a file")


def mmse_reference(config: dict[str, Any], scale: int) -> str:
    """The PSNR-oriented model that a perceptual one is blended with (``--alpha``) and compared
    with (hallucination maps): its card's ``mmse_reference``, else the packaged MMSE model of its scale."""
    return str(config.get("mmse_reference") or f"srresnet-x{scale}")


def save_generator(model: nn.Module, path: str | Path, config: dict[str, Any] | None = None) -> Path:
    """Save generator weights (fp32, contiguous) and their config (``arch`` + constructor
    arguments, then ``config``) as safetensors."""
    cfg = {**generator_config(model), **(config or {})}
    tensors = {k: v.detach().float().contiguous().cpu() for k, v in model.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={CONFIG_KEY: json.dumps(cfg)})
    return path


def read_config(path: str | Path) -> dict[str, Any]:
    """The config of a safetensors model file (metadata + optional sidecar JSON)."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: not a valid safetensors file ({exc})") from None
    cfg = json.loads(meta.get(CONFIG_KEY, "{}"))
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        cfg.update(json.loads(sidecar.read_text()))
    if LEGACY_ARCH_KEY in cfg:
        cfg.setdefault("arch", cfg.pop(LEGACY_ARCH_KEY))
    return cfg


def read_state_file(path: str | Path, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """The tensors of a weight file: safetensors, or (only with ``allow_pickle``) a pickle read
    with ``torch.load(weights_only=True)``, which refuses anything but tensors and containers."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise ModelFileError(
                f"{path}: pickle-based weight files can run code when loaded; convert it to safetensors, or pass "
                "--allow-pickle if you trust it"
            )
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ModelFileError(f"{path}: refused or unreadable pickle ({str(exc).splitlines()[0]})") from None
        try:
            return unwrap_state(obj)
        except ConvertError as exc:
            raise ModelFileError(f"{path}: {exc}") from None
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: truncated or corrupted safetensors file ({exc})") from None


def _state_and_config(path: Path, allow_pickle: bool) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors renamed to an srgan architecture, and the config that builds it."""
    cfg = {} if path.suffix.lower() in PICKLE_SUFFIXES else read_config(path)
    state = read_state_file(path, allow_pickle)
    if "arch" in cfg:
        return state, cfg
    try:  # no srgan config (a pickle, or a bare safetensors file): recognise the layout
        layout, arch, params, state = detect_layout(state)
    except ConvertError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    return state, {**cfg, "arch": arch, **params, "source_layout": layout}


def load_generator(
    name_or_path: str | Path,
    allow_pickle: bool = False,
    expect_scale: int | None = None,
    models_dir: str | Path | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Build the generator of a packaged name or weight file (any registered architecture,
    or a recognised foreign layout) and check that the weights fit it."""
    path = resolve_model_path(name_or_path, models_dir)
    state, cfg = _state_and_config(path, allow_pickle)
    try:
        arch = get_arch(str(cfg["arch"]))
        params = {k: cfg[k] for k in arch.defaults if k in cfg}
        model = build_generator(str(cfg["arch"]), **params)
    except (KeyError, ValueError, TypeError, ArchError) as exc:
        raise ModelFileError(f"{path}: bad model config ({exc})") from None
    if expect_scale is not None and model.scale != expect_scale:
        raise ModelFileError(f"{path}: model is x{model.scale}, but x{expect_scale} was requested")
    own = model.state_dict()
    state = fill_bn_counters(state, own)
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} keys (e.g. {unexpected[0]})")
        raise ModelFileError(f"{path}: weights do not match {_describe(model)}: {'; '.join(parts)}")
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise ModelFileError(f"{path}: tensor {k} has shape {tuple(state[k].shape)}, expected {tuple(v.shape)}")
        if v.dtype.is_floating_point and not torch.isfinite(state[k]).all():
            raise ModelFileError(f"{path}: tensor {k} contains NaN or infinity")
    model.load_state_dict({k: state[k].to(own[k].dtype) for k in own})
    model.eval()
    cfg.setdefault("name", path.stem)
    return model, cfg


def _describe(model: nn.Module) -> str:
    return " ".join([model.arch, *(f"{k}={v}" for k, v in model.hparams.items())])


def interpolate_generators(mmse: nn.Module, perceptual: nn.Module, alpha: float) -> nn.Module:
    """Network interpolation (Wang et al., ESRGAN 2018, Sec. 3.4): every weight and BN
    statistic becomes (1 - alpha) * mmse + alpha * perceptual. alpha = 0 is the
    PSNR-oriented model, 1 the GAN model; both must share one architecture."""
    if not 0.0 <= alpha <= 1.0:
        raise ModelFileError(f"alpha must be in [0, 1], got {alpha}")
    a, b = mmse.state_dict(), perceptual.state_dict()
    cfg_a, cfg_b = generator_config(mmse), generator_config(perceptual)
    if cfg_a != cfg_b or a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        raise ModelFileError(f"cannot interpolate: architectures differ ({_describe(mmse)} vs {_describe(perceptual)})")
    out = build_generator(**cfg_a)
    out.load_state_dict(
        {
            k: torch.lerp(a[k].float(), b[k].float(), alpha).to(a[k].dtype) if a[k].is_floating_point() else b[k]
            for k in a
        }
    )
    return out.eval()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
