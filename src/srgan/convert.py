"""Community weights into srgan's format: recognise a foreign state-dict layout and rename it.

Recognised layouts (each becomes one architecture of :mod:`srgan.models.registry`):

- srgan's own SRResNet (``head.0.weight``, ``body.<i>.conv1``...) -> ``srresnet``;
- BasicSR / Real-ESRGAN ``RRDBNet`` (``conv_first``, ``body.<i>.rdb1.conv1``...) -> ``rrdbnet``;
- the original ESRGAN repository's ``RRDBNet`` (``RRDB_trunk.<i>.RDB1``, ``trunk_conv``,
  ``upconv1``, ``HRconv``) -> ``rrdbnet``;
- Real-ESRGAN ``SRVGGNetCompact`` (``body.0`` conv, ``body.1`` PReLU, ...) -> ``srvgg``;
- BasicSR ``MSRResNet`` (``conv_first``, ``body.<i>.conv1``, ``upconv1``) -> ``msrresnet``;
- leftthomas/SRGAN's generator (``block1`` ... ``block8``) -> ``leftthomas``.

BasicSR's ``{"params": ..., "params_ema": ...}`` wrappers (EMA preferred), ``state_dict``
wrappers and DataParallel's ``module.`` prefixes are unwrapped first. Nothing here unpickles:
callers read files with :func:`srgan.hub.read_state_file`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import torch

__all__ = ["ConvertError", "unwrap_state", "detect_layout", "fill_bn_counters", "convert_file"]

Converted = tuple[str, dict[str, Any], dict[str, torch.Tensor]]


class ConvertError(ValueError):
    """A state dict in no layout that srgan knows."""


def unwrap_state(obj: Any) -> dict[str, torch.Tensor]:
    """The tensor dict inside BasicSR (``params_ema`` first, then ``params``) or ``state_dict``
    wrappers, with DataParallel's ``module.`` prefix removed."""
    for key in ("params_ema", "params", "state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if (
        not isinstance(obj, dict)
        or not obj
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    ):
        raise ConvertError("not a state dict of tensors (nor a params / params_ema / state_dict wrapper of one)")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj


def _count(state: dict[str, torch.Tensor], pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in state if (m := rx.match(k))})


def _srresnet(state: dict[str, torch.Tensor]) -> Converted:
    params = {
        "scale": 2 ** _count(state, r"upsample\.(\d+)\."),
        "num_blocks": _count(state, r"body\.(\d+)\."),
        "channels": state["head.0.weight"].shape[0],
    }
    return "srresnet", params, state


def _rrdbnet(state: dict[str, torch.Tensor]) -> Converted:
    if state["conv_first.weight"].shape[1] != 3:
        raise ConvertError(
            f"RRDBNet with {state['conv_first.weight'].shape[1]} input channels (the x1/x2 pixel-unshuffle variant) "
            "is not supported; x4 only"
        )
    params = {
        "scale": 4,
        "num_blocks": _count(state, r"body\.(\d+)\.rdb1\."),
        "channels": state["conv_first.weight"].shape[0],
        "growth_channels": state["body.0.rdb1.conv1.weight"].shape[0],
    }
    return "rrdbnet", params, state


_ESRGAN_OLD = (
    ("RRDB_trunk.", "body."),
    (".RDB1.", ".rdb1."),
    (".RDB2.", ".rdb2."),
    (".RDB3.", ".rdb3."),
    ("trunk_conv.", "conv_body."),
    ("upconv1.", "conv_up1."),
    ("upconv2.", "conv_up2."),
    ("HRconv.", "conv_hr."),
)


def _esrgan_old(state: dict[str, torch.Tensor]) -> Converted:
    renamed = {}
    for k, v in state.items():
        for a, b in _ESRGAN_OLD:
            k = k.replace(a, b) if k.startswith(a) or a.startswith(".") else k
        renamed[k] = v
    return _rrdbnet(renamed)


def _srvgg(state: dict[str, torch.Tensor]) -> Converted:
    convs = sorted(
        int(m.group(1)) for k, v in state.items() if (m := re.match(r"body\.(\d+)\.weight$", k)) and v.ndim == 4
    )
    last = state[f"body.{convs[-1]}.weight"]
    scale = math.isqrt(last.shape[0] // 3)
    if 3 * scale * scale != last.shape[0]:
        raise ConvertError(f"SRVGGNetCompact: last conv has {last.shape[0]} outputs, not 3 * scale^2")
    if "body.1.weight" not in state:
        raise ConvertError("SRVGGNetCompact without PReLU weights (relu / leakyrelu variant): not supported")
    return (
        "srvgg",
        {
            "scale": scale,
            "num_blocks": len(convs) - 2,
            "channels": state["body.0.weight"].shape[0],
            "activation": "prelu",
        },
        state,
    )


def _msrresnet(state: dict[str, torch.Tensor]) -> Converted:
    channels = state["conv_first.weight"].shape[0]
    scale = 4 if "upconv2.weight" in state else math.isqrt(state["upconv1.weight"].shape[0] // channels)
    return (
        "msrresnet",
        {"scale": scale, "num_blocks": _count(state, r"body\.(\d+)\.conv1\."), "channels": channels},
        state,
    )


def _leftthomas(state: dict[str, torch.Tensor]) -> Converted:
    blocks = _count(state, r"block(\d+)\.conv1\.")
    ups = _count(state, rf"block{blocks + 3}\.(\d+)\.conv\.")
    return "leftthomas", {"scale": 2**ups, "num_blocks": blocks, "channels": state["block1.0.weight"].shape[0]}, state


# (name, a key that only this layout has, converter); the first match wins
LAYOUTS = (
    ("srgan SRResNet", "head.0.weight", _srresnet),
    ("RRDBNet (BasicSR / Real-ESRGAN)", "body.0.rdb1.conv1.weight", _rrdbnet),
    ("RRDBNet (original ESRGAN)", "RRDB_trunk.0.RDB1.conv1.weight", _esrgan_old),
    ("MSRResNet (BasicSR)", "body.0.conv1.weight", _msrresnet),
    ("SRVGGNetCompact (Real-ESRGAN)", "body.0.weight", _srvgg),
    ("generator (leftthomas/SRGAN)", "block1.0.weight", _leftthomas),
)


def detect_layout(state: dict[str, torch.Tensor]) -> tuple[str, str, dict[str, Any], dict[str, torch.Tensor]]:
    """``(layout description, arch, constructor params, state renamed to that arch)``."""
    for name, key, convert in LAYOUTS:
        if key in state:
            try:
                arch, params, renamed = convert(state)
            except (KeyError, IndexError) as exc:
                raise ConvertError(f"looks like {name} but lacks {exc}") from None
            return name, arch, params, renamed
    sample = ", ".join(sorted(state)[:3])
    raise ConvertError(f"unknown weight layout (first keys: {sample}); known: {', '.join(n for n, _, _ in LAYOUTS)}")


def fill_bn_counters(state: dict[str, torch.Tensor], own: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """BatchNorm's ``num_batches_tracked`` counters, which older PyTorch versions did not save
    (it does not affect inference), added as 0 where ``own`` has them and ``state`` lacks them."""
    extra = {
        k: torch.zeros(v.shape, dtype=v.dtype)
        for k, v in own.items()
        if k.endswith(".num_batches_tracked") and k not in state
    }
    return {**state, **extra} if extra else state


def convert_file(
    src: str | Path,
    dst: str | Path,
    allow_pickle: bool = False,
    card: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> tuple[str, Path]:
    """Read a community weight file, recognise its layout and write it as an srgan safetensors
    model whose config holds ``arch``, its parameters and ``card`` (source, licence, ...).
    Returns the layout's description and the written path."""
    from .hub import ModelFileError, load_generator, save_generator

    src, dst = Path(src), Path(dst)
    if dst.suffix != ".safetensors":
        raise ModelFileError(f"{dst}: the output must be a .safetensors file")
    if dst.exists() and not overwrite:
        raise ModelFileError(f"{dst}: already exists (use --overwrite to replace it)")
    # load_generator recognises the layout and checks names, shapes, dtypes, ranges and finiteness
    model, cfg = load_generator(src, allow_pickle=allow_pickle)
    layout = cfg.get("source_layout", "srgan")
    meta = {
        "name": dst.stem,
        "converted_from": src.name,
        "source_layout": layout,
        **{k: v for k, v in (card or {}).items() if v is not None},
    }
    save_generator(model, dst, meta)
    return layout, dst
