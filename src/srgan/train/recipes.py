"""Recipes: YAML files with a shared ``base`` and a list of ``stages``.

Each stage is deep-merged over ``base`` into one :class:`TrainConfig`; its
``out_dir`` is ``<out>/<stage name>``, and ``init_generator: "{previous}"``
points at the previous stage's run (the paper's SRResNet -> SRGAN procedure).
A file without ``stages`` is a single plain config: one stage, whose ``out_dir`` is
``out`` itself when given. Overrides, ``steps_factor`` and ``out`` apply alike to both.
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .config import ConfigError, TrainConfig, apply_overrides, load_config

__all__ = ["recipe_names", "recipe_path", "load_recipe"]


def recipe_names() -> list[str]:
    d = resources.files("srgan") / "recipes"
    return sorted(p.name[:-5] for p in d.iterdir() if p.name.endswith(".yaml"))


def recipe_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.is_file():
        return p
    if name_or_path in recipe_names():
        return Path(str(resources.files("srgan") / "recipes" / f"{name_or_path}.yaml"))
    raise ConfigError(f"recipe '{name_or_path}' not found: not a file and not one of {', '.join(recipe_names())}")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _scale_steps(raw: dict[str, Any], factor: float) -> None:
    def s(n: int) -> int:
        return max(1, int(round(n * factor)))

    raw["steps"] = s(raw.get("steps", 1000))
    optim = raw.setdefault("optim", {})
    if "milestones" in optim:
        optim["milestones"] = [s(m) for m in optim["milestones"]]
    if optim.get("warmup_steps"):
        optim["warmup_steps"] = s(optim["warmup_steps"])
    for key in ("val_every", "ckpt_every", "log_every"):
        if key in raw:
            raw[key] = max(1, min(s(raw[key]), raw["steps"]))


def load_recipe(
    name_or_path: str, overrides: list[str] | None = None, steps_factor: float = 1.0, out: str | None = None
) -> list[TrainConfig]:
    """Stage configs of a recipe. Overrides ``key=value`` apply to every stage; ``stage:key=value`` to one."""
    path = recipe_path(name_or_path)
    doc = yaml.safe_load(path.read_text()) or {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    single = "stages" not in doc
    if single:
        doc = {"stages": [doc]}
    unknown = set(doc) - {"base", "stages"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {', '.join(sorted(unknown))} (expected base and stages)")
    out_root = Path(out or Path("runs") / path.stem)
    stages = doc["stages"]
    if not isinstance(stages, list) or not all(isinstance(s, dict) for s in stages):
        raise ConfigError(f"{path}: stages must be a list of mappings")
    names = [s.get("name", s.get("stage", f"stage{i}")) for i, s in enumerate(stages)]
    configs, previous = [], None
    for name, entry in zip(names, stages):
        raw = _merge(doc.get("base") or {}, entry)
        raw["name"] = name
        if out:  # the user's folder wins over the recipe's
            raw["out_dir"] = str(out) if single else str(out_root / name)
        raw.setdefault("out_dir", str(out_root / name))
        if raw.get("init_generator") == "{previous}":
            if previous is None:
                raise ConfigError(f"{path}: stage '{name}' uses {{previous}} but is the first stage")
            raw["init_generator"] = previous
        mine = []
        for o in overrides or []:
            prefix, sep, rest = o.partition(":")
            if sep and "=" not in prefix:
                if prefix not in names:
                    raise ConfigError(f"override '{o}': no stage named '{prefix}' (stages: {', '.join(names)})")
                if prefix == name:
                    mine.append(rest)
            else:
                mine.append(o)
        raw = apply_overrides(raw, mine)
        if steps_factor != 1.0:
            _scale_steps(raw, steps_factor)
        try:
            cfg = load_config(raw=raw)
        except ConfigError as exc:
            raise ConfigError(f"{path} stage '{name}': {exc}") from None
        configs.append(cfg)
        previous = cfg.out_dir
    return configs
