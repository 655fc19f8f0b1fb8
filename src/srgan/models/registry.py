"""Architecture registry: one explicit table from a name to what the rest of srgan needs.

Each entry gives the constructor (a plain ``nn.Module`` whose keyword defaults are the paper's
configuration), the receptive radius in LR pixels that exact tiling needs (``None``: unbounded,
the image runs untiled), and an optional exact fast path for inference. Adding an architecture
is one module plus one line in :data:`ARCHITECTURES`. Every registered module exposes ``arch``
(its name here), ``scale`` and ``hparams`` (the constructor arguments that rebuild it).
"""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

from torch import nn

from . import generator, imdn, leftthomas, msrresnet, rrdbnet, srvgg
from .discriminator import Discriminator
from .fast import FastGenerator
from .unet_discriminator import UNetDiscriminatorSN

__all__ = [
    "Arch",
    "ArchError",
    "ARCHITECTURES",
    "DISCRIMINATORS",
    "get_arch",
    "build_generator",
    "build_discriminator",
    "generator_config",
    "receptive_radius",
    "check_params",
    "checked_params",
]


class ArchError(ValueError):
    """An unknown architecture or constructor parameter."""


# bounds on constructor arguments read from model files: a file's config is untrusted input, and
# a 196-byte file must not make us build a network of 200000 blocks
DEFAULT_LIMITS: dict[str, tuple[float, float]] = {
    "scale": (1, 8),
    "num_blocks": (0, 64),
    "channels": (1, 256),
    "growth_channels": (1, 256),
}


@dataclass(frozen=True)
class Arch:
    """One architecture: constructor, receptive radius (LR px, or None when unbounded), fast path,
    and the ranges its numeric arguments may take in a model file."""

    build: Callable[..., nn.Module]
    radius: Callable[[Any], int | None]
    fast: Callable[[Any], nn.Module] | None = None
    limits: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_LIMITS))

    @property
    def defaults(self) -> dict[str, Any]:
        """The constructor's keyword defaults: the paper's configuration."""
        return {
            k: p.default
            for k, p in inspect.signature(self.build).parameters.items()
            if p.default is not inspect.Parameter.empty
        }


ARCHITECTURES: dict[str, Arch] = {
    "srresnet": Arch(generator.Generator, generator.receptive_radius, FastGenerator),
    "rrdbnet": Arch(rrdbnet.RRDBNet, rrdbnet.receptive_radius),
    "srvgg": Arch(srvgg.SRVGGNetCompact, srvgg.receptive_radius),
    "msrresnet": Arch(msrresnet.MSRResNet, msrresnet.receptive_radius),
    "leftthomas": Arch(leftthomas.LeftthomasGenerator, leftthomas.receptive_radius),
    "imdn": Arch(imdn.IMDN, lambda model: None),  # global channel attention: runs untiled
}

DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {
    "srgan": Discriminator,
    "unet": UNetDiscriminatorSN,  # Real-ESRGAN's, spectral norm, per-pixel logits
}


def _lookup(table: dict[str, Any], name: str, what: str) -> Any:
    if name not in table:
        close = difflib.get_close_matches(str(name), table, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ArchError(f"unknown {what} '{name}'{hint}; known: {', '.join(table)}")
    return table[name]


def get_arch(name: str) -> Arch:
    return _lookup(ARCHITECTURES, name, "architecture")


def check_params(build: Callable[..., nn.Module], params: dict[str, Any], what: str) -> None:
    """Raise :class:`ArchError` naming any parameter that ``build`` does not take."""
    known = [k for k in inspect.signature(build).parameters]
    for key in params:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (takes {', '.join(known)})"
            raise ArchError(f"{what} has no parameter '{key}'{hint}")


def build_generator(arch: str = "srresnet", **params: Any) -> nn.Module:
    """A generator of the named architecture; unspecified parameters take the paper's defaults."""
    spec = get_arch(arch)
    check_params(spec.build, params, f"architecture '{arch}'")
    return spec.build(**params)


def checked_params(arch: str, config: dict[str, Any]) -> dict[str, Any]:
    """The constructor arguments of ``arch`` found in an untrusted ``config`` (a model file's),
    each of its default's type and within the architecture's limits; :class:`ArchError` otherwise."""
    spec = get_arch(arch)
    params = {}
    for key, default in spec.defaults.items():
        if key not in config:
            continue
        value = config[key]
        kind = type(default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not kind:
            raise ArchError(f"{key} must be {kind.__name__}, got {value!r}")
        low, high = spec.limits.get(key, (float("-inf"), float("inf")))
        if kind in (int, float) and not low <= value <= high:
            raise ArchError(f"{key} = {value} is out of range [{low:g}, {high:g}]")
        params[key] = value
    return params


def build_discriminator(arch: str = "srgan", **params: Any) -> nn.Module:
    build = _lookup(DISCRIMINATORS, arch, "discriminator")
    check_params(build, params, f"discriminator '{arch}'")
    return build(**params)


def generator_config(model: nn.Module) -> dict[str, Any]:
    """``{"arch": name, **constructor arguments}``: what rebuilds ``model``."""
    return {"arch": model.arch, **model.hparams}


def receptive_radius(model: nn.Module) -> int | None:
    """LR pixels of context that an exact tile of ``model`` needs; None for unknown modules."""
    name = getattr(model, "arch", None)
    return ARCHITECTURES[name].radius(model) if name in ARCHITECTURES else None
