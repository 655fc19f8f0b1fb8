"""Training checkpoints: atomic writes, the last K kept, safe loading.

Checkpoints hold optimizer state, so they use ``torch.save``; they are always
read back with ``weights_only=True`` (no arbitrary unpickling).
"""
from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["save_checkpoint", "load_latest_checkpoint", "list_checkpoints"]

log = logging.getLogger(__name__)
_PATTERN = re.compile(r"^ckpt_(\d{9})\.pt$")


def list_checkpoints(ckpt_dir: str | Path) -> list[Path]:
    """Checkpoints in ``ckpt_dir``, oldest first."""
    d = Path(ckpt_dir)
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if _PATTERN.match(p.name))


def save_checkpoint(state: dict[str, Any], ckpt_dir: str | Path, step: int, keep: int = 3) -> Path:
    """Write ``ckpt_<step>.pt`` via a temp file + fsync + rename, then prune to ``keep``."""
    d = Path(ckpt_dir)
    d.mkdir(parents=True, exist_ok=True)
    final = d / f"ckpt_{step:09d}.pt"
    fd, tmp = tempfile.mkstemp(prefix=".tmp_ckpt_", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for old in list_checkpoints(d)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return final


def load_latest_checkpoint(ckpt_dir: str | Path) -> tuple[dict[str, Any], Path] | None:
    """Newest readable checkpoint; an unreadable one is skipped with a warning."""
    for path in reversed(list_checkpoints(ckpt_dir)):
        try:
            return torch.load(path, map_location="cpu", weights_only=True), path
        except Exception as exc:  # truncated or corrupted file: fall back to the previous one
            log.warning("checkpoint %s is unreadable (%s); trying the previous one", path, exc)
    return None
