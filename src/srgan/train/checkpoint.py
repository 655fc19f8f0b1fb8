"""Training checkpoints: atomic writes, SHA-256 verification, the last K kept.

Checkpoints hold optimizer state, so they use ``torch.save``; they are always
read back with ``weights_only=True`` (no arbitrary unpickling). Each
``ckpt_<step>.pt`` starts with a header holding the SHA-256 of the payload that
follows; a checkpoint whose digest does not match (truncated, bit-flipped,
garbage) is skipped with a warning and the previous one is used.
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

__all__ = ["save_checkpoint", "load_latest_checkpoint", "list_checkpoints", "generator_from_run"]

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
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    final = d / f"ckpt_{step:09d}.pt"
    _atomic_write(final, MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
    for old in list_checkpoints(d)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return final


def _verified_bytes(path: Path) -> bytes:
    """The torch.save payload of a checkpoint, after checking its embedded SHA-256."""
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        # a plain torch.save file (older srgan): no digest to check; torch.load still rejects damage
        log.warning("checkpoint %s has no embedded SHA-256 (older format); loading it unverified", path.name)
        return data
    head = len(MAGIC)
    digest, payload = data[head : head + 64].decode("ascii", "replace"), data[head + 65 :]
    if hashlib.sha256(payload).hexdigest() != digest:
        raise ValueError("SHA-256 mismatch: the file is corrupted or truncated")
    return payload


def load_latest_checkpoint(ckpt_dir: str | Path) -> tuple[dict[str, Any], Path] | None:
    """Newest checkpoint that verifies and loads; bad ones are skipped with a warning."""
    for path in reversed(list_checkpoints(ckpt_dir)):
        try:
            data = _verified_bytes(path)
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True), path
        except Exception as exc:
            log.warning(
                "checkpoint %s is unusable (%s); falling back to the previous one",
                path.name,
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )
    return None


def generator_from_run(run: str | Path, ema: bool = True):
    """``(generator, state, path)`` from a run folder's newest checkpoint, or from one checkpoint
    file; EMA weights when present and ``ema`` is true. Raises FileNotFoundError when no
    checkpoint is readable. Configs from before the arch registry build an SRResNet."""
    import json

    from ..models.registry import build_generator
    from .config import ModelConfig, _build

    run = Path(run)
    if run.is_file():
        state, path = torch.load(io.BytesIO(_verified_bytes(run)), map_location="cpu", weights_only=True), run
    else:
        ckpt_dir = run / "checkpoints" if (run / "checkpoints").is_dir() else run
        found = load_latest_checkpoint(ckpt_dir)
        if found is None:
            raise FileNotFoundError(f"no readable checkpoint in {ckpt_dir}")
        state, path = found
    m = _build(ModelConfig, json.loads(state["config"])["model"], "model")
    m.validate()
    g = build_generator(m.arch, **m.kwargs())
    g.load_state_dict(state["ema"]["module"] if ema and state.get("ema") else state["stage"]["generator"])
    return g, state, path
