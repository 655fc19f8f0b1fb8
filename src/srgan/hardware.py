"""What the machine offers for training and inference: CPU vector extensions, the oneDNN ISA
PyTorch dispatches to, and the mixed precision that pays off there (``amp: auto``)."""

from __future__ import annotations

import ctypes
import os
import platform
import re
import subprocess
import sys
from functools import lru_cache

__all__ = ["cpu_flags", "cpu_name", "onednn_isa", "isa_report", "auto_amp", "tune_allocator"]

FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The vector-extension flags of /proc/cpuinfo among :data:`FLAGS` (empty off Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(f for f in line.split(":", 1)[1].split() if f in FLAGS)
    except OSError:
        pass
    return frozenset()


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@lru_cache(maxsize=1)
def onednn_isa() -> str:
    """The ISA oneDNN reports for its first convolution (``ONEDNN_VERBOSE``, in a child process),
    e.g. 'Intel AVX-512 with AVX512BW, AVX512VL, and AVX512DQ extensions', or 'unknown'."""
    code = (  # a conv that PyTorch hands to oneDNN: 64 channels, channels_last
        "import torch; cl = torch.channels_last; x = torch.rand(1, 64, 32, 32).to(memory_format=cl); "
        "torch.nn.functional.conv2d(x, torch.rand(64, 64, 3, 3).to(memory_format=cl))"
    )
    try:
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "ONEDNN_VERBOSE": "1"})  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    m = re.search(r"isa:([^\n]+)", run.stdout + run.stderr)
    return m.group(1).strip() if m else "unknown"


def isa_report() -> dict[str, object]:
    """``{cpu, flags, onednn_isa, bf16}``: the line a speed number needs beside it."""
    flags = cpu_flags()
    return {
        "cpu": cpu_name(),
        "flags": sorted(flags),
        "onednn_isa": onednn_isa(),
        "bf16": bool(flags & {"avx512_bf16", "amx_bf16"}),
    }


def auto_amp(device_type: str) -> str:
    """The mixed precision ``amp: auto`` resolves to: bf16 on a CUDA GPU that supports it (else
    fp16), bf16 on a CPU with bf16 units (AVX512-BF16 or AMX, where oneDNN's bf16 convolutions
    about double a training step), none elsewhere."""
    if device_type == "cuda":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device_type == "cpu" and cpu_flags() & {"avx512_bf16", "amx_bf16"}:
        return "bf16"
    return "none"


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


@lru_cache(maxsize=1)
def tune_allocator(mmap_threshold: int = 256 << 20, trim_threshold: int = 512 << 20) -> bool:
    """Let glibc serve tensors up to ``mmap_threshold`` bytes from its heap and keep up to
    ``trim_threshold`` bytes of freed heap. By default every buffer above 32 MB (a 256-channel map at
    2x resolution, a batch of training activations) is a fresh mmap, page-faulted in and zeroed
    again for every tile or step; reusing heap memory instead made a 256 px x4 upscale about 10%
    faster (docs/performance.md). PyTorch's CPU tuning guide swaps in jemalloc or tcmalloc for the
    same reason. Process-wide, so the CLI calls it; ``SRGAN_MALLOC=system`` opts out. Returns
    whether it applied (glibc on Linux only)."""
    if os.environ.get("SRGAN_MALLOC", "tuned") == "system" or not sys.platform.startswith("linux"):
        return False
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(libc.mallopt(M_TRIM_THRESHOLD, trim_threshold))
