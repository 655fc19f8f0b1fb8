"""Side-by-side benchmark with other projects' models, in one process, one table.

    python benchmarks/compare_peers.py --bench ../shared/data/benchmarks --peers ../shared/peers \
        [--model srresnet-x4 ...] [--threads 2]

Rows: MATLAB bicubic, our packaged models, FSRCNN and ESPCN through OpenCV's
dnn_superres (pip install opencv-contrib-python-headless), and leftthomas/SRGAN's
generator (the spec's code; B=5, old layout: block7 is conv+PReLU, output
(tanh(x)+1)/2; the registry's ``leftthomas`` architecture). Peers whose files or packages are missing
are skipped with a note. Speed-only rows (random weights, no PSNR): our SRResNet-16 and IMDN
(Hui et al. 2019; the registry's ``imdn``, an efficient architecture a user may train instead),
both through srgan's engine, so that their speed is compared within this run.
Protocol: Y channel (BT.601), shave 4, SSIM as Wang et al.; s/MP on a 256x256 LR.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from srgan.evaluate import Method, evaluate_set
from srgan.imresize import imresize


def _gray_wrap(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """Run an RGB upscaler on a gray image by replicating it, then average the channels."""

    def run(lr: np.ndarray) -> np.ndarray:
        if lr.ndim == 2:
            out = fn(np.repeat(lr[..., None], 3, axis=2))
            return np.clip(np.floor(out.astype(np.float64).mean(axis=2) + 0.5), 0, 255).astype(np.uint8)
        return fn(lr)

    return run


def leftthomas_method(path: Path) -> Method:
    """The spec's generator through srgan's own engine: its pickle is recognised and loaded as
    the registry's ``leftthomas`` architecture (``srgan convert`` does the same, to a file)."""
    from srgan.api import from_pretrained

    model = from_pretrained(path, allow_pickle=True, device="cpu")
    return Method("leftthomas SRGAN (spec's code)", model.upscale)


def opencv_method(path: Path, name: str) -> Method:
    import cv2

    sr = cv2.dnn_superres.DnnSuperResImpl_create()
    sr.readModel(str(path))
    sr.setModel(name, 4)

    def run(lr: np.ndarray) -> np.ndarray:
        return sr.upsample(lr[..., ::-1].copy())[..., ::-1].copy()  # OpenCV is BGR

    return Method(f"{name.upper()} (OpenCV dnn_superres)", _gray_wrap(run))


def seconds_per_mp(fn: Callable[[np.ndarray], np.ndarray], size: int = 256) -> float:
    x = (np.random.default_rng(0).random((size, size, 3)) * 255).astype(np.uint8)
    fn(x[:32, :32])
    t = time.perf_counter()
    fn(x)
    return (time.perf_counter() - t) / ((size * 4) ** 2 / 1e6)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True, help="folder holding Set5/ and Set14/")
    ap.add_argument("--peers", required=True, help="folder with the peers' model files")
    ap.add_argument("--model", action="append", default=None, help="our packaged models (default: every x4 model)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from srgan.api import from_pretrained
    from srgan.hub import packaged_models, read_config

    notes = []
    methods = [Method("bicubic (MATLAB)", lambda lr: imresize(lr, 4))]
    ours = args.model or [n for n, p in packaged_models().items() if read_config(p).get("scale") == 4]
    for name in ours:
        m = from_pretrained(name, device="cpu")
        methods.append(Method(f"{name} (ours)", m.upscale))
    peers = Path(args.peers)
    for fname, kind in (("FSRCNN_x4.pb", "fsrcnn"), ("ESPCN_x4.pb", "espcn")):
        if not (peers / fname).exists():
            notes.append(f"{fname} not found in {peers}: skipped")
            continue
        try:
            methods.append(opencv_method(peers / fname, kind))
        except (ImportError, AttributeError):
            notes.append(f"{kind}: needs opencv-contrib-python-headless; skipped")
    lt = peers / "leftthomas_srgan_netG_x4.pth"
    if lt.exists():
        methods.append(leftthomas_method(lt))
    else:
        notes.append(f"{lt.name} not found: skipped")

    results = [evaluate_set(Path(args.bench) / s, 4, methods) for s in ("Set5", "Set14")]
    from srgan.api import SRModel
    from srgan.models.registry import build_generator

    speed_only = [
        Method(f"{arch} x4, random weights (speed only)", SRModel(build_generator(arch), device="cpu").upscale)
        for arch in ("srresnet", "imdn")
    ]
    speed = {m.name: seconds_per_mp(m.upscale) for m in methods + speed_only}
    print(f"x4, Y channel, shave 4; s/MP on a 256x256 LR input, {args.threads} CPU threads\n")
    print("| method | Set5 PSNR | Set5 SSIM | Set14 PSNR | Set14 SSIM | s/MP |")
    print("|---|---:|---:|---:|---:|---:|")
    for m in methods:
        a, b = results[0].mean(m.name), results[1].mean(m.name)
        print(
            f"| {m.name} | {a['psnr']:.2f} | {a['ssim']:.4f} | {b['psnr']:.2f} | {b['ssim']:.4f} | "
            f"{speed[m.name]:.2f} |"
        )
    for m in speed_only:
        print(f"| {m.name} | - | - | - | - | {speed[m.name]:.2f} |")
    for n in notes:
        print(f"\nnote: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
