"""Training checkpoints: atomic writes, SHA-256 verification, the last K kept.

Checkpoints hold optimizer state, so they use ``torch.save``; they are always
read back with ``weights_only=True`` (no arbitrary unpickling). Each
``ckpt_<step>.pt`` starts with a header holding the SHA-256 of the payload that
follows; a checkpoint whose digest does not match (truncated, bit-flipped,
garbage) is skipped with a warning and the previous one is used. A file without the header
(written by an older srgan) cannot be verified and is refused unless the caller trusts it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "save_checkpoint",
    "load_latest_checkpoint",
    "list_checkpoints",
    "generator_from_run",
    "set_aside_unreadable",
    "UnverifiedCheckpoint",
    "check_float_weights",
]


class UnverifiedCheckpoint(ValueError):
    """A checkpoint without the embedded SHA-256 (older format): damage in it cannot be detected."""


log = logging.getLogger(__name__)
_PATTERN = re.compile(r"^ckpt_(\d{9})\.pt$")
MAGIC = b"SRGANCKPT1\n"  # then 64 hex digits of SHA-256 and a newline, then the torch.save payload


def list_checkpoints(ckpt_dir: str | Path) -> list[Path]:
    """Checkpoints in ``ckpt_dir``, oldest first."""
    d = Path(ckpt_dir)
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if _PATTERN.match(p.name))


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(state: dict[str, Any], ckpt_dir: str | Path, step: int, keep: int = 3) -> Path:
    """Serialize, write ``ckpt_<step>.pt`` and its digest atomically (temp + fsync + rename), prune to ``keep``.

    If writing fails (e.g. the disk is full) the exception propagates and the
    previous checkpoints are untouched.
    """
    d = Path(ckpt_dir)
    d.mkdir(parents=True, exist_ok=True)
    for orphan in d.glob(".tmp_*"):  # left by a writer killed mid-write (one writer per run)
        orphan.unlink(missing_ok=True)
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    final = d / f"ckpt_{step:09d}.pt"
    _atomic_write(final, MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
    if keep > 0:  # the newest `keep`, counting this one; never this one, never a later step
        older = [p for p in list_checkpoints(d) if p.name < final.name]
        for old in older[: max(0, len(older) - (keep - 1))]:
            old.unlink(missing_ok=True)
    return final


def _verified_bytes(path: Path, trust_unverified: bool = False) -> bytes:
    """The torch.save payload of a checkpoint, after checking its embedded SHA-256."""
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        # a plain torch.save file (older srgan): flipped bits in a tensor would load silently
        if not trust_unverified:
            raise UnverifiedCheckpoint(
                "no embedded SHA-256 (a checkpoint of an older srgan): damage cannot be detected; "
                "pass --trust-unverified to load it anyway"
            )
        log.warning("checkpoint %s has no embedded SHA-256 (older format); loading it unverified", path.name)
        return data
    head = len(MAGIC)
    digest, payload = data[head : head + 64].decode("ascii", "replace"), data[head + 65 :]
    if hashlib.sha256(payload).hexdigest() != digest:
        raise ValueError("SHA-256 mismatch: the file is corrupted or truncated")
    return payload


def load_latest_checkpoint(ckpt_dir: str | Path, trust_unverified: bool = False) -> tuple[dict[str, Any], Path] | None:
    """Newest checkpoint that verifies and loads; bad ones are skipped with a warning."""
    for path in reversed(list_checkpoints(ckpt_dir)):
        try:
            data = _verified_bytes(path, trust_unverified)
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True), path
        except Exception as exc:
            log.warning(
                "checkpoint %s is unusable (%s); falling back to the previous one",
                path.name,
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )
    return None


def check_float_weights(module_state: dict[str, torch.Tensor], saved: dict[str, Any], where: str) -> None:
    """Refuse a saved tensor that would fill a floating-point parameter or buffer from integers
    (``load_state_dict`` would cast it silently)."""
    for k, v in module_state.items():
        t = saved.get(k)
        if v.dtype.is_floating_point and isinstance(t, torch.Tensor) and not t.dtype.is_floating_point:
            raise ValueError(f"{where}: tensor {k} is {t.dtype}; weights must be floating point")


def set_aside_unreadable(ckpt_dir: str | Path) -> list[Path]:
    """Rename every checkpoint of ``ckpt_dir`` to ``<name>.unreadable`` (kept for inspection, out of
    the way of pruning and resuming); returns the new paths."""
    moved = []
    for p in list_checkpoints(ckpt_dir):
        target = p.with_name(p.name + ".unreadable")
        os.replace(p, target)
        moved.append(target)
    return moved


def generator_from_run(run: str | Path, ema: bool = True, trust_unverified: bool = False):
    """``(generator, state, path)`` from a run folder's newest checkpoint, or from one checkpoint
    file; EMA weights when present and ``ema`` is true. Raises FileNotFoundError when no
    checkpoint is readable. Configs from before the arch registry build an SRResNet."""
    import json

    from ..models.registry import build_generator
    from .config import ModelConfig, _build

    run = Path(run)
    if run.is_file():
        try:
            payload = _verified_bytes(run, trust_unverified)
        except ValueError as exc:
            raise FileNotFoundError(f"{run}: unusable checkpoint ({exc})") from None
        state, path = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True), run
    else:
        ckpt_dir = run / "checkpoints" if (run / "checkpoints").is_dir() else run
        found = load_latest_checkpoint(ckpt_dir, trust_unverified)
        if found is None:
            raise FileNotFoundError(f"no readable checkpoint in {ckpt_dir}")
        state, path = found
    m = _build(ModelConfig, json.loads(state["config"])["model"], "model")
    m.validate()
    g = build_generator(m.arch, **m.kwargs())
    weights = state["ema"]["module"] if ema and state.get("ema") else state["stage"]["generator"]
    check_float_weights(g.state_dict(), weights, str(path))
    g.load_state_dict(weights)
    return g, state, path
