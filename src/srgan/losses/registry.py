"""Loss registry: ``type`` name -> term class, and the objective built from a recipe's list.

A recipe declares ``loss`` as a list of ``{type, weight, [name], ...params}``; adding a loss
is one :class:`~.terms.LossTerm` subclass in one file plus one line in :data:`LOSSES`.
"""

from __future__ import annotations

import difflib
import inspect
import typing
from typing import Any

import torch
from torch import nn

from . import terms

__all__ = ["LOSSES", "LossSpecError", "build_term", "Objective", "legacy_terms", "describe"]

LOSSES: dict[str, type[terms.LossTerm]] = {
    "pixel": terms.PixelLoss,
    "vgg": terms.PerceptualVGGLoss,
    "feature_matching": terms.FeatureMatchingLoss,
    "lattice": terms.LatticeLoss,
    "block": terms.BlockLoss,
    "chroma": terms.ChromaLoss,
    "shift": terms.ShiftLoss,
    "texture": terms.TextureLoss,
    "overshoot": terms.OvershootLoss,
    "ringing": terms.RingingLoss,
    "adversarial": terms.AdversarialLoss,
    "relativistic": terms.RelativisticAdversarialLoss,
}


class LossSpecError(ValueError):
    """An unknown loss type or parameter, or a bad value."""


def _params(cls: type) -> dict[str, inspect.Parameter]:
    return {k: p for k, p in inspect.signature(cls.__init__).parameters.items() if k != "self"}


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check a YAML value against a constructor's type hint (int, float, str, bool, or Optional of one)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if value is None:
        if type(None) in typing.get_args(hint):
            return None
        raise LossSpecError(f"{where}: must not be null")
    tp = args[0] if args else hint
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads '1e-3' as a string
        except ValueError:
            pass
    if tp in (int, str, bool) and type(value) is tp:
        return value
    if tp is int and isinstance(value, float) and value.is_integer():
        return int(value)
    raise LossSpecError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")


def build_term(spec: dict[str, Any], where: str = "loss") -> terms.LossTerm:
    """One term from ``{type, weight, [name], ...params}``; errors name the type and parameter."""
    if not isinstance(spec, dict) or "type" not in spec:
        raise LossSpecError(f"{where}: each loss needs a 'type' (one of {', '.join(LOSSES)}), got {spec!r}")
    kind = str(spec["type"])
    if kind not in LOSSES:
        close = difflib.get_close_matches(kind, LOSSES, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise LossSpecError(f"{where}: unknown loss type '{kind}'{hint}; known: {', '.join(LOSSES)}")
    cls = LOSSES[kind]
    params, hints = _params(cls), typing.get_type_hints(cls.__init__)
    kwargs = {}
    for key, value in spec.items():
        if key == "type":
            continue
        if key not in params:
            close = difflib.get_close_matches(key, params, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (it takes {', '.join(params)})"
            raise LossSpecError(f"{where} ({kind}): unknown parameter '{key}'{hint}")
        kwargs[key] = _coerce(value, hints.get(key, Any), f"{where} ({kind}).{key}")
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise LossSpecError(f"{where} ({kind}): {exc}") from None


class Objective(nn.Module):
    """The weighted sum of a recipe's terms (weight-0 terms are kept for the log but not computed)."""

    def __init__(self, specs: list[dict[str, Any]]) -> None:
        super().__init__()
        built = [build_term(s, f"loss[{i}]") for i, s in enumerate(specs)]
        names = [t.name for t in built]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise LossSpecError(f"loss: two terms are named '{dup[0]}'; give one a different 'name'")
        self.terms = nn.ModuleList(built)

    @property
    def columns(self) -> list[str]:
        """Log columns, one per term."""
        return [f"loss_{t.name}" for t in self.terms]

    @property
    def needs_discriminator(self) -> bool:
        return any(t.needs_discriminator and t.weight > 0 for t in self.terms)

    @property
    def needs_features(self) -> bool:
        return any(t.needs_features and t.weight > 0 for t in self.terms)

    def setup(self) -> "Objective":
        for t in self.terms:
            if t.weight > 0:
                t.setup()
        return self

    def adversarial(self) -> terms.AdversarialLoss | None:
        return next((t for t in self.terms if isinstance(t, terms.AdversarialLoss)), None)

    def forward(self, ctx: terms.LossContext) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        total = ctx.sr.new_zeros((), dtype=torch.float32)
        parts: dict[str, torch.Tensor] = {}
        for t in self.terms:
            if t.weight > 0:
                parts[f"loss_{t.name}"] = value = t(ctx)
                total = total + t.weight * value.float()
        return total, parts


def describe(specs: list[dict[str, Any]]) -> str:
    """'1 x L1 pixel + 0.001 x adversarial': the model card's loss row."""
    built = [build_term(s) for s in specs]
    return " + ".join(f"{t.weight:g} x {t.label()}" for t in built if t.weight) or "?"


# the flat loss section of configs written before the registry, in its column order
_LEGACY = (
    ("pixel_weight", "pixel", {"pixel": "norm"}),
    ("vgg_weight", "vgg", {"vgg_layer": "layer", "vgg_rescale": "rescale", "vgg_weights": "weights"}),
    ("feature_matching_weight", "feature_matching", {}),
    ("lattice_weight", "lattice", {"lattice_window": "window"}),
    ("block_weight", "block", {}),
    ("chroma_weight", "chroma", {}),
    ("shift_weight", "shift", {"shift_samples": "samples", "shift_norm": "norm", "shift_margin": "margin"}),
)
_LEGACY_DEFAULTS = {"pixel_weight": 1.0, "pixel": "mse", "adversarial_weight": 1e-3}


def legacy_terms(loss: dict[str, Any], stage: str = "srresnet") -> list[dict[str, Any]]:
    """The term list equal to an old flat ``loss:`` mapping (``pixel_weight``, ``vgg_layer``, ...):
    terms with weight 0 (but the adversarial one) and parameters at their defaults left out,
    the adversarial term only in an ``srgan`` stage."""
    known = {k for w, _, m in _LEGACY for k in (w, *m)} | {"adversarial_weight"}
    unknown = sorted(set(loss) - known)
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise LossSpecError(f"unknown config key 'loss.{unknown[0]}'{hint}")
    loss = {**_LEGACY_DEFAULTS, **loss}
    out = []
    for weight_key, kind, renames in _LEGACY:
        weight = loss.get(weight_key, 0.0)
        if weight:
            defaults = {k: p.default for k, p in _params(LOSSES[kind]).items()}
            params = {new: loss[old] for old, new in renames.items() if old in loss and loss[old] != defaults.get(new)}
            out.append({"type": kind, "weight": weight, **params})
    if stage == "srgan":
        out.append({"type": "adversarial", "weight": loss["adversarial_weight"]})
    return out
