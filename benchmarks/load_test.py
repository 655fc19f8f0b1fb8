"""Bounded load test of `srgan serve` on the loopback (127.0.0.1 only).

    python benchmarks/load_test.py [--requests 24] [--max-seconds 120] [--size 128] [--workers 2] [--queue 8]

Starts a server in a child process, then for 1, 2 and 8 concurrent clients
sends a fixed number of requests (stopping early at --max-seconds), and prints
latency percentiles, throughput, refusals (429/503) and the server's peak RSS.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test suite's server harness
from served import current_rss_mb, peak_rss_mb, served  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=24, help="requests per concurrency level")
    ap.add_argument("--max-seconds", type=float, default=120, help="stop a level after this long")
    ap.add_argument("--size", type=int, default=128, help="LR side of the test image")
    ap.add_argument("--model", default="srresnet-x4")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--queue", type=int, default=8)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray((rng.random((args.size, args.size, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    payload = buf.getvalue()
    print(
        f"server: model {args.model}, {args.workers} worker(s), queue {args.queue}; input {args.size}x{args.size} "
        f"PNG; {args.requests} requests per level\n"
    )
    print("| clients | ok | refused | p50 (s) | p90 (s) | p99 (s) | throughput (req/s) | server RSS now / peak (MB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    with served(
        "--device",
        "cpu",
        "--model",
        args.model,
        "--workers",
        str(args.workers),
        "--queue",
        str(args.queue),
        "--timeout",
        "300",
    ) as (url, proc):
        with httpx.Client(base_url=url, timeout=300) as c:  # warm-up: load the model once
            c.post("/v1/upscale", files={"image": ("w.png", payload)}).raise_for_status()
        for clients in (1, 2, 8):
            lat: list[float] = []
            refused = 0
            deadline = time.time() + args.max_seconds
            remaining = [args.requests]

            def worker(_: int) -> None:
                nonlocal refused
                with httpx.Client(base_url=url, timeout=300) as c:
                    while time.time() < deadline:
                        if remaining[0] <= 0:
                            return
                        remaining[0] -= 1
                        t = time.perf_counter()
                        r = c.post("/v1/upscale", files={"image": ("a.png", payload)})
                        if r.status_code == 200:
                            lat.append(time.perf_counter() - t)
                        elif r.status_code in (429, 503):
                            refused += 1
                            time.sleep(float(r.headers.get("retry-after", "1")) / 10)
                        else:
                            raise RuntimeError(f"unexpected {r.status_code}: {r.text[:200]}")

            t0 = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(worker, range(clients)))
            wall = time.perf_counter() - t0
            print(
                f"| {clients} | {len(lat)} | {refused} | {pct(lat, 50):.2f} | {pct(lat, 90):.2f} | {pct(lat, 99):.2f} "
                f"| {len(lat) / wall:.2f} | "
                f"{current_rss_mb(proc.pid):.0f} / {peak_rss_mb(proc.pid):.0f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
