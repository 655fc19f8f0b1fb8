"""``srgan export --format onnx``: a generator as ONNX with dynamic height and width."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .models import Generator

__all__ = ["export_onnx", "check_onnx"]


def export_onnx(generator: Generator, path: str | Path, opset: int = 18) -> Path:
    """Export through ``torch.export`` (needs ``onnx`` and ``onnxscript``). Input ``lr``
    (N, 3, H, W) in [0, 1]; output ``sr`` (N, 3, sH, sW), not clamped (clamp after, as srgan does)."""
    try:
        import onnxscript  # noqa: F401
    except ImportError:
        raise RuntimeError("ONNX export needs extra packages: pip install 'srgan[onnx]'") from None
    g = generator.eval().float().to(memory_format=torch.contiguous_format)
    example = torch.rand(1, 3, 32, 40)
    h, w = torch.export.Dim("height", min=1, max=16384), torch.export.Dim("width", min=1, max=16384)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        g,
        (example,),
        str(path),
        input_names=["lr"],
        output_names=["sr"],
        dynamo=True,
        dynamic_shapes={"x": {2: h, 3: w}},
        opset_version=opset,
        verbose=False,
    )
    return path


def check_onnx(
    generator: Generator, path: str | Path, shapes: tuple[tuple[int, int], ...] = ((24, 32), (37, 19))
) -> float:
    """Max abs difference between onnxruntime and PyTorch outputs over a few input sizes."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    g = generator.eval()
    for h, w in shapes:
        x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h * 1000 + w))
        with torch.inference_mode():
            ref = g(x).numpy()
        out = sess.run(None, {"lr": x.numpy()})[0]
        if out.shape != ref.shape:
            raise AssertionError(f"ONNX output shape {out.shape} != PyTorch {ref.shape}")
        worst = max(worst, float(np.abs(out - ref).max()))
    return worst
