"""CPU inference speed against the hardware's peak and two baselines, in one process.

    python benchmarks/inference.py [--threads 2] [--sizes 128 256 512] [--repeats 3] [--memory]

Measures the fp32 peak (best of a large matmul and a large 3x3 conv), then for SRResNet B=16 and B=5 (x4,
random weights with non-trivial BatchNorm statistics) and each LR size times,
round-robin in one process:
  naive     model.eval(), NCHW fp32, 64 px tiles with 8 px padding (Real-ESRGAN's default style)
  cl-eager  channels_last eager forward of the whole image (untiled)
  ours-w1   srgan's path: fused tail, exact two-level tiling, channels_last, intra-op threads
  ours-w2   the same split in 2 bands, one single-threaded worker each
Prints s per output MP, MP/s, share of peak and the max abs difference from the
untiled fp32 reference. ``--profile SIZE`` prints operator profiles; ``--memory`` adds
peak RSS of a 2000x2000 -> 8000x8000
run in a fresh process, and ``--photo`` times decode -> upscale -> encode of a file.

``--e2e`` times ``SRModel.upscale`` (uint8 in and out, the API path; SRResNet-16 x4, random
weights) on 64 and 256 px inputs in child processes: with the CPU's own ISA and with oneDNN and
ATen capped at AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2``: what an AVX2-only CPU
runs), each with glibc's default malloc and with :func:`srgan.hardware.tune_allocator`, against
the FMA peak that ``benchmarks/fma_peak.py`` measures for that vector width. Each row also times the
network's main layer alone (a 64 -> 64 3x3 conv on 256x256, channels_last) in the same child:
the FMA kernel runs from registers and does not see a neighbour's load on the caches and memory,
that conv does, so a row whose conv reads low was measured on a contended host.

``--tail`` times, round-robin in one process, the fused tail's 5x5 conv (256 -> 12 at 2x) with its
12 output channels and padded with zero filters to 16 (what :class:`FusedTail` runs), alone and
inside ``SRModel.upscale`` of a 256 px input. ``--layers`` times each distinct convolution of
:class:`FastGenerator` (SRResNet-16 x4) on the maps of a 256 px input, against the FMA peak.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from srgan.inference import upscale_tensor
from srgan.models import Generator
from srgan.models.fast import FastGenerator, FusedTail


def macs_per_output_pixel(g: Generator) -> float:
    s = g.scale
    lr = 3 * 64 * 81 + g.num_blocks * 2 * 64 * 64 * 9 + 64 * 64 * 9
    per_hr = lr / s**2 + 15552  # head/body at LR res, the 9x9 64->3 conv at HR res
    for i in range(len(g.upsample)):
        per_hr += 64 * 256 * 9 / (s / 2**i) ** 2  # each 64->256 conv runs at 1x, 2x, ... of LR
    return per_hr


def peak_gflops(threads: int, n: int = 4096, repeats: int = 5) -> tuple[float, float, float]:
    """Best dense fp32 throughput measured here: a large matmul and a large 3x3 conv (64 -> 64,
    channels_last, the network's own main layer). Returns (peak, matmul, conv) in GFLOP/s."""
    a, b = torch.rand(n, n), torch.rand(n, n)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1, bias=False).to(memory_format=torch.channels_last)
    x = torch.rand(1, 64, 256, 256).contiguous(memory_format=torch.channels_last)

    with torch.inference_mode():
        mm = 2 * n**3 / best_seconds(lambda: a @ b, repeats) / 1e9
        cv = 2 * 64 * 64 * 9 * 256 * 256 / best_seconds(lambda: conv(x), repeats) / 1e9
    return max(mm, cv), mm, cv


def best_seconds(f, repeats: int) -> float:
    """Fastest of ``repeats`` timed calls of ``f`` after one warm-up call."""
    f()
    t_best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        t_best = min(t_best, time.perf_counter() - t)
    return t_best


def fma_peak_fn():
    """``benchmarks/fma_peak.py``'s ``fma_peak`` (this folder is not a package)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from fma_peak import fma_peak

    return fma_peak


def model(blocks: int) -> Generator:
    torch.manual_seed(0)
    g = Generator(4, blocks)
    for m in g.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return g.eval()


@torch.inference_mode()
def naive(g: Generator, x: torch.Tensor, tile: int = 64, pad: int = 8) -> torch.Tensor:
    """Tiled NCHW forward as many SR tools do it (approximate at tile borders)."""
    _, c, h, w = x.shape
    s = g.scale
    out = torch.empty(1, c, h * s, w * s)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            ya, xa, yb, xb = max(y0 - pad, 0), max(x0 - pad, 0), min(y1 + pad, h), min(x1 + pad, w)
            sr = g(x[:, :, ya:yb, xa:xb])
            out[:, :, y0 * s : y1 * s, x0 * s : x1 * s] = sr[
                :, :, (y0 - ya) * s : (y0 - ya + y1 - y0) * s, (x0 - xa) * s : (x0 - xa + x1 - x0) * s
            ]
    return out.clamp_(0, 1)


def profile_variants(size: int) -> None:
    """Self CPU time per operator (grouped by input shape) of cl-eager and ours-w1, B=16."""
    from torch.profiler import ProfilerActivity, profile

    g = model(16)
    x = torch.rand(1, 3, size, size).contiguous(memory_format=torch.channels_last)
    variants = {
        "cl-eager": (g.to(memory_format=torch.channels_last), dict(tile=None, tail_tile=None)),
        "ours-w1": (
            FastGenerator(model(16)).to(memory_format=torch.channels_last),
            dict(tile=512, tail_tile=128, workers=1),
        ),
    }
    for name, (net, kw) in variants.items():
        with torch.inference_mode():
            upscale_tensor(net, x, 4, **kw)  # warm-up
            with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
                upscale_tensor(net, x, 4, **kw)
        print(
            f"\nProfile of {name}, B=16, {size}x{size} LR, top operators by self CPU time (grouped by input shape):\n"
        )
        print(
            prof.key_averages(group_by_input_shape=True).table(
                sort_by="self_cpu_time_total", row_limit=10, max_name_column_width=28, max_shapes_column_width=60
            )
        )


MEMORY_CHILD = r"""
import json, resource, time, numpy as np, torch
torch.set_num_threads({threads})
import srgan
from srgan.hardware import tune_allocator
tune_allocator()  # as the CLI does
m = srgan.from_pretrained("{model}", device="cpu")
x = (np.random.default_rng(0).random(({size}, {size}, 3)) * 255).astype(np.uint8)
t = time.perf_counter(); y = m.upscale(x); dt = time.perf_counter() - t
# VmHWM: this process's own peak. ru_maxrss would also count the parent's pages at fork/exec time.
hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")]
rss = hwm[0] / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"rss_mb": rss, "seconds": dt, "out_mp": y.shape[0] * y.shape[1] / 1e6}}))
"""


E2E_CHILD = r"""
import json, statistics, sys, time, numpy as np, torch
torch.set_num_threads({threads})
from srgan.hardware import onednn_isa
try:
    from srgan.hardware import tune_allocator
    tuned = tune_allocator()
except ImportError:  # an srgan from before it existed (PYTHONPATH=<old checkout>/src: the "before" rows)
    tuned = False
from srgan.api import SRModel
from srgan.models.registry import build_generator
torch.manual_seed(0)
g = build_generator("srresnet")
for m in g.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
        m.running_mean.uniform_(-0.1, 0.1); m.running_var.uniform_(0.5, 1.5)
model = SRModel(g, device="cpu")
out = {{"tuned": tuned, "isa": onednn_isa()}}
for size in {sizes}:
    x = (np.random.default_rng(size).random((size, size, 3)) * 255).astype(np.uint8)
    model.upscale(x)
    times = []
    for _ in range({repeats}):
        t = time.perf_counter(); model.upscale(x); times.append(time.perf_counter() - t)
    out[str(size)] = statistics.median(times) / ((size * 4) ** 2 / 1e6)
conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(memory_format=torch.channels_last)
f = torch.rand(1, 64, 256, 256).contiguous(memory_format=torch.channels_last)
with torch.inference_mode():
    conv(f)
    times = []
    for _ in range({repeats}):
        t = time.perf_counter(); conv(f); times.append(time.perf_counter() - t)
out["conv"] = 2 * 64 * 64 * 9 * 256 * 256 / statistics.median(times) / 1e9
print(json.dumps(out))
"""


def end_to_end(threads: int, repeats: int, sizes=(64, 256)) -> None:
    """The --e2e table (see the module docstring)."""
    from srgan.hardware import cpu_flags

    fma_peak = fma_peak_fn()

    gflop_per_mp = 2 * macs_per_output_pixel(Generator(4, 16)) * 1e6 / 1e9
    native = "avx512" if "avx512f" in cpu_flags() else "avx2"
    peaks = {isa: fma_peak(isa, threads) for isa in {native, "avx2"}}
    rows = []
    # an AVX-512 CPU also runs capped at AVX2; an AVX2-only CPU runs once, uncapped
    caps = {native: {}}
    if native != "avx2":
        caps["avx2"] = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
    for isa, env in caps.items():
        for malloc in ("system", "tuned"):
            code = E2E_CHILD.format(threads=threads, sizes=list(sizes), repeats=repeats)
            run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                 env={**os.environ, **env, "SRGAN_MALLOC": malloc})  # fmt: skip
            rows.append((isa, json.loads(run.stdout.strip().splitlines()[-1])))
            for k in peaks:  # the clock of a shared host drifts: the best peak seen before or after any row
                peaks[k] = max(peaks[k] or 0.0, fma_peak(k, threads) or 0.0) or None
    print(
        f"\nFMA peak ({threads} threads, best of the run): "
        + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peaks.items() if v)
    )
    print("\n| ISA (oneDNN) | malloc | " + " | ".join(f"{s} px s/MP | {s} px % of FMA peak" for s in sizes)
          + f" | {sizes[0]} px / {sizes[-1]} px time per MP | 3x3 conv 64->64 at 256 px, % of FMA peak |")  # fmt: skip
    print("|---|---|" + "---:|" * (2 * len(sizes) + 2))
    for isa, r in rows:
        peak = peaks[isa] or float("nan")
        cells = [f"{r[str(s)]:.2f} | {100 * gflop_per_mp / r[str(s)] / peak:.0f}%" for s in sizes]
        used = "tuned" if r["tuned"] else "system"  # an old srgan (the "before" rows) cannot tune it
        print(f"| {r['isa']} | {used} | " + " | ".join(cells) + f" | {r[str(sizes[0])] / r[str(sizes[-1])]:.2f} | "
              f"{100 * r['conv'] / peak:.0f}% |")  # fmt: skip


def tail_padding(threads: int, repeats: int, size: int = 256) -> None:
    """The --tail table (see the module docstring)."""
    import numpy as np

    from srgan.api import SRModel

    torch.set_num_threads(threads)
    g = model(16)
    srm = SRModel(g, device="cpu")
    tails = {n: FusedTail(g, n).to(memory_format=torch.channels_last) for n in (1, 16)}
    x = (np.random.default_rng(size).random((size, size, 3)) * 255).astype(np.uint8)
    f = torch.rand(1, 256, 264, 264).contiguous(memory_format=torch.channels_last)  # one 132 px sub-tile at 2x

    def e2e(n: int):
        srm.generator.fast_tail = tails[n]
        return srm.upscale(x)

    def conv(n: int):
        return tails[n].fused(f)

    outs = {n: e2e(n) for n in tails}
    diff = int(np.abs(outs[1].astype(int) - outs[16].astype(int)).max())
    times: dict[tuple[str, int], list[float]] = {(k, n): [] for k in ("conv", "e2e") for n in tails}
    with torch.inference_mode():
        for _ in range(repeats):
            for (k, n), ts in times.items():
                fn = conv if k == "conv" else e2e
                t = time.perf_counter()
                fn(n)
                ts.append(time.perf_counter() - t)
    med = {key: statistics.median(ts) for key, ts in times.items()}
    mp = (size * 4) ** 2 / 1e6
    print(f"\nfused tail, output channels 12 as they are or padded to 16 (median of {repeats}, round-robin):\n")
    print("| measure | 12 outputs | padded to 16 | speed-up |")
    print("|---|---:|---:|---:|")
    print(f"| 5x5 conv 256 -> 12 on a 264x264 map, ms | {1e3 * med['conv', 1]:.1f} | {1e3 * med['conv', 16]:.1f} | "
          f"{med['conv', 1] / med['conv', 16]:.2f}x |")  # fmt: skip
    print(f"| upscale {size} px, s/MP | {med['e2e', 1] / mp:.2f} | {med['e2e', 16] / mp:.2f} | "
          f"{med['e2e', 1] / med['e2e', 16]:.2f}x |")  # fmt: skip
    print(f"\nlargest difference of the uint8 outputs: {diff}")


def layers(threads: int, repeats: int, size: int = 256) -> None:
    """The --layers table (see the module docstring)."""
    from srgan.hardware import cpu_flags

    fma_peak = fma_peak_fn()

    torch.set_num_threads(threads)
    fast = FastGenerator(model(16)).to(memory_format=torch.channels_last)
    tail = fast.fast_tail
    cases = [  # (name, conv, input resolution, count in the network)
        ("head 9x9 3 -> 64", fast.head[0], size, 1),
        ("trunk 3x3 64 -> 64", fast.body[0].conv1, size, 2 * len(fast.body) + 1),
        ("upsample 3x3 64 -> 256 at 1x", tail.head_ups[0][0], size, 1),
        ("upsample 3x3 64 -> 256 at 2x", tail.conv, 2 * size, 1),
        (f"fused tail 5x5 256 -> {tail.fused.out_channels} at 2x", tail.fused, 2 * size, 1),
    ]
    isa = "avx512" if "avx512f" in cpu_flags() else "avx2"
    peak = fma_peak(isa, threads) or float("nan")
    print(f"\nFMA peak ({isa}, {threads} threads): {peak:.0f} GFLOP/s; best of {repeats}, channels_last fp32\n")
    print("| layer | map | ms | GFLOP/s | % of FMA peak | layers | share of the conv time |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = []
    with torch.inference_mode():
        for name, conv, res, count in cases:
            x = torch.rand(1, conv.in_channels, res, res).contiguous(memory_format=torch.channels_last)
            best = best_seconds(lambda: conv(x), repeats)  # called within this iteration
            k = conv.kernel_size[0] * conv.kernel_size[1]
            flops = 2 * conv.in_channels * conv.out_channels * k * res * res
            rows.append((name, res, best, flops, count))
    total = sum(best * count for *_, best, _, count in rows)
    for name, res, best, flops, count in rows:
        rate = flops / best / 1e9
        print(f"| {name} | {res} | {1e3 * best:.1f} | {rate:.1f} | {100 * rate / peak:.0f}% | {count} | "
              f"{100 * best * count / total:.0f}% |")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--blocks", type=int, nargs="+", default=[16, 5])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--memory", action="store_true", help="peak RSS of a 2000x2000 x4 upscale in a fresh process")
    ap.add_argument("--memory-size", type=int, default=2000)
    ap.add_argument(
        "--profile", type=int, metavar="SIZE", help="profile cl-eager and ours-w1 (B=16) on one SIZE x SIZE LR image"
    )
    ap.add_argument("--photo", help="time decode -> upscale -> encode of this file with the shipped model")
    ap.add_argument("--e2e", action="store_true", help="only the end-to-end table: native ISA and AVX2, both mallocs")
    ap.add_argument("--tail", action="store_true", help="only the fused tail's output padding, 12 against 16 channels")
    ap.add_argument("--layers", action="store_true", help="only the per-layer table of the fast generator's convs")
    args = ap.parse_args()
    only = {"layers": layers, "tail": tail_padding, "e2e": end_to_end}
    for flag, table in only.items():
        if getattr(args, flag):
            from srgan.hardware import isa_report

            print(f"torch {torch.__version__}, {args.threads} threads\nmachine: {isa_report()}")
            table(args.threads, args.repeats)
            return 0
    torch.set_num_threads(args.threads)
    peak, mm, cv = peak_gflops(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} threads, fp32 peak {peak:.0f} GFLOP/s "
        f"(best of a 4096^3 matmul {mm:.0f} and a 64->64 3x3 conv on 256x256 {cv:.0f})"
    )
    from srgan.hardware import isa_report

    print(f"machine: {isa_report()}\n")
    print("| model | LR size | variant | s/MP | MP/s | % of peak | max abs diff vs untiled |")
    print("|---|---:|---|---:|---:|---:|---:|")
    summary = {}
    for blocks in args.blocks:
        g = model(blocks)
        g_cl = model(blocks).to(memory_format=torch.channels_last)
        fast = FastGenerator(model(blocks)).to(memory_format=torch.channels_last)
        gflop_per_mp = 2 * macs_per_output_pixel(g) * 1e6 / 1e9
        for size in args.sizes:
            x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(size))
            x_cl = x.contiguous(memory_format=torch.channels_last)
            variants = {
                "naive": lambda: naive(g, x),
                "cl-eager": lambda: upscale_tensor(g_cl, x_cl, 4, tile=None, tail_tile=None),
                "ours-w1": lambda: upscale_tensor(fast, x_cl, 4, tile=512, tail_tile=128, workers=1),
                "ours-w2": lambda: upscale_tensor(fast, x_cl, 4, tile=512, tail_tile=128, workers=2),
            }
            with torch.inference_mode():
                ref = g(x).clamp_(0, 1)
            times: dict[str, list[float]] = {k: [] for k in variants}
            diffs = {}
            for f in variants.values():  # warm-up
                f()
            for _ in range(args.repeats):
                for name, f in variants.items():
                    t = time.perf_counter()
                    y = f()
                    times[name].append(time.perf_counter() - t)
                    diffs[name] = float((y - ref).abs().max())
            mp = (size * 4) ** 2 / 1e6
            for name in variants:
                spm = statistics.median(times[name]) / mp
                summary[(blocks, size, name)] = spm
                print(
                    f"| SRResNet B={blocks} | {size} | {name} | {spm:.2f} | {1 / spm:.3f} | "
                    f"{100 * gflop_per_mp / spm / peak:.0f}% | {diffs[name]:.1e} |"
                )
    print("\nSpeed-ups (same run):\n")
    print("| model | LR size | ours-w1 / naive | ours-w1 / cl-eager | ours-w2 / cl-eager |")
    print("|---|---:|---:|---:|---:|")
    for blocks in args.blocks:
        for size in args.sizes:
            s = lambda n: summary[(blocks, size, n)]  # noqa: E731
            print(
                f"| B={blocks} | {size} | {s('naive') / s('ours-w1'):.2f}x | {s('cl-eager') / s('ours-w1'):.2f}x | "
                f"{s('cl-eager') / s('ours-w2'):.2f}x |"
            )
    if args.profile:
        profile_variants(args.profile)
    if args.photo:
        from srgan.api import from_pretrained
        from srgan.image_io import read_image, write_image

        m = from_pretrained(device="cpu")
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            img = read_image(args.photo)
            t1 = time.perf_counter()
            out = m.upscale_data(img)
            t2 = time.perf_counter()
            write_image(f"{tmp}/out.png", out)
            t3 = time.perf_counter()
        mp = out.size[0] * out.size[1] / 1e6
        print(
            f"\nEnd to end, {args.photo} ({img.size[0]}x{img.size[1]} -> {out.size[0]}x{out.size[1]}, shipped model): "
            f"decode {t1 - t:.2f} s, upscale {t2 - t1:.2f} s, encode PNG {t3 - t2:.2f} s, total {t3 - t:.2f} s = "
            f"{(t3 - t) / mp:.2f} s/MP"
        )
    if args.memory:
        code = MEMORY_CHILD.format(threads=args.threads, model="srresnet-x4", size=args.memory_size)
        r = json.loads(
            subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            .stdout.strip()
            .splitlines()[-1]
        )
        print(
            f"\nMemory: {args.memory_size}x{args.memory_size} LR -> {r['out_mp']:.0f} MP output with the shipped "
            "model (default tile 512): "
            f"peak RSS {r['rss_mb']:.0f} MB, {r['seconds']:.0f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
