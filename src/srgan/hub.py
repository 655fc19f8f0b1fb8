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
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from .convert import ConvertError, detect_layout, fill_bn_counters, unwrap_state
from .models.registry import ArchError, build_generator, checked_params, generator_config

__all__ = [
    "ModelFileError",
    "save_generator",
    "load_generator",
    "interpolate_generators",
    "read_config",
    "packaged_models",
    "SOURCE_SIBLINGS",
    "model_for_source",
    "resolve_model_path",
    "read_state_file",
    "mmse_reference",
    "blendable_models",
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


# Which sibling of a model suits each kind of input, in order of preference: "photo" (a compressed
# JPEG) the -jpeg model (trained on JPEG LR), else the -real one; "degraded" (old, noisy, blurry)
# the -real model (Real-ESRGAN's degradations), else the -jpeg one; "clean" the plain model.
SOURCE_SIBLINGS: dict[str, tuple[str, ...]] = {
    "clean": ("",),
    "photo": ("-jpeg", "-real"),
    "degraded": ("-real", "-jpeg"),
}


def model_for_source(name: str, source: str, names: Iterable[str]) -> str | None:
    """The model among ``names`` for ``source`` (a key of :data:`SOURCE_SIBLINGS`) in the family of
    ``name`` (``srresnet-x4``, ``srresnet-x4-jpeg`` and ``srresnet-x4-real`` are one family), or None."""
    if source not in SOURCE_SIBLINGS:
        raise ValueError(f"source must be one of {', '.join(SOURCE_SIBLINGS)}, got {source!r}")
    base = next((name[: -len(s)] for s in SOURCE_SIBLINGS["degraded"] if name.endswith(s)), name)
    have = set(names)
    return next((base + s for s in SOURCE_SIBLINGS[source] if base + s in have), None)


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


def blendable_models(models_dir: str | Path | None = None) -> list[str]:
    """Packaged models (and those of ``models_dir``) that take ``--alpha``: their PSNR-oriented
    partner (:func:`mmse_reference`) is another model that is there."""
    models = packaged_models(models_dir)
    out = []
    for name, path in models.items():
        try:
            cfg = read_config(path)
        except ModelFileError:
            continue
        ref = mmse_reference(cfg, int(cfg.get("scale", 4)) if isinstance(cfg.get("scale"), int) else 4)
        if ref != name and ref in models:
            out.append(name)
    return out


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
    cfg = _json_object(meta.get(CONFIG_KEY, "{}"), f"{path}: metadata {CONFIG_KEY}")
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        try:
            text = sidecar.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelFileError(f"{sidecar}: unreadable model card ({exc})") from None
        cfg.update(_json_object(text, str(sidecar)))
    if LEGACY_ARCH_KEY in cfg:
        cfg.setdefault("arch", cfg.pop(LEGACY_ARCH_KEY))
    return cfg


def _json_object(text: str, where: str) -> dict[str, Any]:
    """A JSON object from untrusted text; anything else (a list, a number, null, bad JSON,
    nesting deep enough to exhaust the parser) is a :class:`ModelFileError`."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(f"{where}: not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(value, dict):
        raise ModelFileError(f"{where}: must be a JSON object, got {type(value).__name__}")
    return value


def _header_shapes(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """Name -> (shape, dtype) of every tensor of a safetensors file, from its header alone."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: (tuple(f.get_slice(k).get_shape()), str(f.get_slice(k).get_dtype())) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: truncated or corrupted safetensors file ({exc})") from None


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


def _state_and_config(path: Path, allow_pickle: bool) -> tuple[dict[str, torch.Tensor] | None, dict[str, Any]]:
    """The config that builds the network, and (for pickles and files without an srgan config,
    whose layout is recognised from the tensors) the tensors; None when they are still to load."""
    cfg = {} if path.suffix.lower() in PICKLE_SUFFIXES else read_config(path)
    if "arch" in cfg:
        return None, cfg
    state = read_state_file(path, allow_pickle)
    try:  # no srgan config (a pickle, or a bare safetensors file): recognise the layout
        layout, arch, params, state = detect_layout(state)
    except ConvertError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    return state, {**cfg, "arch": arch, **params, "source_layout": layout}


_FLOAT_DTYPES = {"F16", "BF16", "F32", "F64", "float16", "bfloat16", "float32", "float64"}


def load_generator(
    name_or_path: str | Path,
    allow_pickle: bool = False,
    expect_scale: int | None = None,
    models_dir: str | Path | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Build the generator of a packaged name or weight file (any registered architecture,
    or a recognised foreign layout) and check that the weights fit it.

    The file is untrusted: its config is checked (types, the registry's ranges), the network is
    first built on the meta device (no memory) and its tensor names, shapes and dtypes are compared
    with the file's header; only then are the weights read and the real network built."""
    path = resolve_model_path(name_or_path, models_dir)
    state, cfg = _state_and_config(path, allow_pickle)
    arch = cfg.get("arch")
    try:
        if not isinstance(arch, str):
            raise ArchError(f"arch must be a name, got {arch!r}")
        params = checked_params(arch, cfg)
        with torch.device("meta"):
            skeleton = build_generator(arch, **params)
    except (ValueError, TypeError, ArchError) as exc:
        raise ModelFileError(f"{path}: bad model config ({exc})") from None
    if expect_scale is not None and skeleton.scale != expect_scale:
        raise ModelFileError(f"{path}: model is x{skeleton.scale}, but x{expect_scale} was requested")
    own = skeleton.state_dict()
    if state is None:
        found = _header_shapes(path)
    else:
        found = {k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in state.items()}
    counters = {k: (tuple(v.shape), "counter") for k, v in own.items() if k.endswith("num_batches_tracked")}
    found = {**counters, **found}  # BatchNorm counters that older files lack are filled in with 0
    missing = sorted(set(own) - set(found))
    unexpected = sorted(set(found) - set(own))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} keys (e.g. {unexpected[0]})")
        raise ModelFileError(f"{path}: weights do not match {_describe(skeleton)}: {'; '.join(parts)}")
    for k, v in own.items():
        shape, dtype = found[k]
        if shape != tuple(v.shape):
            raise ModelFileError(f"{path}: tensor {k} has shape {shape}, expected {tuple(v.shape)}")
        if v.dtype.is_floating_point and dtype not in _FLOAT_DTYPES:
            raise ModelFileError(f"{path}: tensor {k} is {dtype}; weights must be floating point")
    if state is None:
        state = read_state_file(path, allow_pickle)
    state = fill_bn_counters(state, own)
    for k, v in own.items():
        if v.dtype.is_floating_point and not torch.isfinite(state[k]).all():
            raise ModelFileError(f"{path}: tensor {k} contains NaN or infinity")
    model = build_generator(arch, **params)
    model.load_state_dict({k: state[k].to(v.dtype) for k, v in model.state_dict().items()})
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
