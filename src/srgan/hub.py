"""Model files: safetensors with a JSON config, packaged models, ``from_pretrained``.

A model file is ``<name>.safetensors`` whose metadata key ``srgan_config``
holds a JSON config (architecture, scale, blocks, recipe, metrics). A JSON file
of the same name beside it, if present, overrides/extends that config (model
card data). Pickle-based ``.pth``/``.pt`` files load only when explicitly
allowed, and then only with ``torch.load(weights_only=True)``.
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

from .models import Generator

__all__ = ["ModelFileError", "save_generator", "load_generator", "interpolate_generators", "read_config", "packaged_models", "resolve_model_path", "DEFAULT_MODEL"]

DEFAULT_MODEL = "srresnet-x4"
CONFIG_KEY = "srgan_config"
PICKLE_SUFFIXES = {".pth", ".pt", ".pkl", ".ckpt", ".bin"}


class ModelFileError(ValueError):
    """A model name or weight file cannot be used; the message says why."""


def _weights_dir() -> Path:
    return Path(str(resources.files("srgan") / "weights"))


def packaged_models() -> dict[str, Path]:
    """Name -> path of every model shipped in the package."""
    d = _weights_dir()
    return {p.stem: p for p in sorted(d.glob("*.safetensors"))} if d.is_dir() else {}


def resolve_model_path(name_or_path: str | Path) -> Path:
    """A packaged model name or an existing file path."""
    models = packaged_models()
    if str(name_or_path) in models:
        return models[str(name_or_path)]
    path = Path(name_or_path)
    if path.is_file():
        return path
    names = ", ".join(models) or "none installed"
    raise ModelFileError(f"model '{name_or_path}' not found: not a packaged model ({names}) and not a file")


def save_generator(model: Generator, path: str | Path, config: dict[str, Any] | None = None) -> Path:
    """Save generator weights (fp32, contiguous) and their config as safetensors."""
    cfg = {"architecture": "srresnet", "scale": model.scale, "num_blocks": model.num_blocks, "channels": model.channels, **(config or {})}
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
    return cfg


def _load_state(path: Path, allow_pickle: bool) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise ModelFileError(f"{path}: pickle-based weight files can run code when loaded; convert it to safetensors, or pass --allow-pickle if you trust it")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ModelFileError(f"{path}: refused or unreadable pickle ({str(exc).splitlines()[0]})") from None
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise ModelFileError(f"{path}: does not contain a plain state dict of tensors")
        return state, {}
    cfg = read_config(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: truncated or corrupted safetensors file ({exc})") from None
    return state, cfg


def _infer_config(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    blocks = len({k.split(".")[1] for k in state if k.startswith("body.")})
    ups = len({k.split(".")[1] for k in state if k.startswith("upsample.")})
    channels = state["head.0.weight"].shape[0] if "head.0.weight" in state else 64
    return {"architecture": "srresnet", "num_blocks": blocks, "scale": 2**ups, "channels": channels}


def load_generator(name_or_path: str | Path, allow_pickle: bool = False, expect_scale: int | None = None) -> tuple[Generator, dict[str, Any]]:
    """Build a :class:`Generator` from a packaged name or file and check it fits."""
    path = resolve_model_path(name_or_path)
    state, cfg = _load_state(path, allow_pickle)
    if not cfg:
        cfg = _infer_config(state)
    if cfg.get("architecture", "srresnet") != "srresnet":
        raise ModelFileError(f"{path}: architecture '{cfg['architecture']}' is not supported")
    try:
        model = Generator(int(cfg["scale"]), int(cfg["num_blocks"]), int(cfg.get("channels", 64)))
    except (KeyError, ValueError) as exc:
        raise ModelFileError(f"{path}: bad model config ({exc})") from None
    if expect_scale is not None and model.scale != expect_scale:
        raise ModelFileError(f"{path}: model is x{model.scale}, but x{expect_scale} was requested")
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} keys (e.g. {unexpected[0]})")
        raise ModelFileError(f"{path}: weights do not match SRResNet x{model.scale} B={model.num_blocks}: {'; '.join(parts)}")
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise ModelFileError(f"{path}: tensor {k} has shape {tuple(state[k].shape)}, expected {tuple(v.shape)}")
        if v.dtype.is_floating_point and not torch.isfinite(state[k]).all():
            raise ModelFileError(f"{path}: tensor {k} contains NaN or infinity")
    model.load_state_dict({k: state[k].to(own[k].dtype) for k in own})
    model.eval()
    cfg.setdefault("name", path.stem)
    return model, cfg


def interpolate_generators(mmse: Generator, perceptual: Generator, alpha: float) -> Generator:
    """Network interpolation (Wang et al., ESRGAN 2018, Sec. 3.4): every weight and BN
    statistic becomes (1 - alpha) * mmse + alpha * perceptual. alpha = 0 is the
    PSNR-oriented model, 1 the GAN model; both must share one architecture."""
    if not 0.0 <= alpha <= 1.0:
        raise ModelFileError(f"alpha must be in [0, 1], got {alpha}")
    a, b = mmse.state_dict(), perceptual.state_dict()
    arch_a = (mmse.scale, mmse.num_blocks, mmse.channels)
    arch_b = (perceptual.scale, perceptual.num_blocks, perceptual.channels)
    if arch_a != arch_b or a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        raise ModelFileError(f"cannot interpolate: architectures differ (x{arch_a[0]} B={arch_a[1]} C={arch_a[2]} vs x{arch_b[0]} B={arch_b[1]} C={arch_b[2]})")
    out = Generator(*arch_a)
    out.load_state_dict({k: torch.lerp(a[k].float(), b[k].float(), alpha).to(a[k].dtype) if a[k].is_floating_point() else b[k] for k in a})
    return out.eval()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
