from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SRGAN_SHARED", ROOT.parent / "shared"))
BENCH = SHARED / "data" / "benchmarks"

torch.set_num_threads(int(os.environ.get("SRGAN_TEST_THREADS", "1")))  # deterministic, light on CI


def need_benchmarks() -> Path:
    if not (BENCH / "Set5" / "x4" / "HR").is_dir():
        pytest.skip(f"shared benchmarks not found at {BENCH} (set SRGAN_SHARED to the shared/ folder)")
    return BENCH


@pytest.fixture
def bench() -> Path:
    return need_benchmarks()


def natural_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth-plus-texture uint8 RGB test image (no shared data needed)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack(
        [128 + 90 * np.sin(xx / 7.0 + c) * np.cos(yy / 11.0 - c) + 20 * np.sin((xx + yy) / 2.3 + c) for c in range(3)],
        axis=2,
    )
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def tiny_model_file(tmp_path) -> Path:
    from srgan.hub import save_generator
    from srgan.models import Generator

    torch.manual_seed(0)
    g = Generator(4, 2)
    # a usable model: make BN statistics non-trivial so tiling/BN bugs would show
    for m in g.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return save_generator(g, tmp_path / "tiny-x4.safetensors", {"name": "tiny-x4"})
