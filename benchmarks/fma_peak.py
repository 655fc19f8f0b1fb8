"""The fp32 FMA peak of this CPU, measured: the denominator of "% of peak" in the benchmarks.

    python benchmarks/fma_peak.py [--threads 2]

Builds ``fma_peak.c`` with the system C compiler (cc/gcc) into a temporary library and runs its
AVX2 (256-bit) and, where the CPU has it, AVX-512 kernel on each thread at once; prints GFLOP/s
(2 FLOPs per FMA lane). Needs an x86-64 CPU and a C compiler; without them, says so.
"""

from __future__ import annotations

import argparse
import ctypes
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path

SOURCE = Path(__file__).with_name("fma_peak.c")
CHAINS = 12


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    out = Path(tempfile.mkdtemp(prefix="fma_peak_")) / "fma_peak.so"
    try:
        subprocess.run([cc, "-O2", "-shared", "-fPIC", str(SOURCE), "-o", str(out)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    lib = ctypes.CDLL(str(out))
    for name in ("fma_avx2", "fma_avx512"):
        f = getattr(lib, name)
        f.restype, f.argtypes = ctypes.c_float, [ctypes.c_int64]
    return lib


def fma_peak(isa: str = "avx2", threads: int = 2, seconds: float = 0.5, repeats: int = 3) -> float | None:
    """Best fp32 GFLOP/s of ``threads`` threads each running the ``isa`` kernel ('avx2' or 'avx512');
    None where it cannot be built or the CPU lacks the ISA."""
    from srgan.hardware import cpu_flags

    need = {"avx2": {"avx2", "fma"}, "avx512": {"avx512f"}}[isa]
    lib = _library()
    if lib is None or not need <= cpu_flags():
        return None
    f = getattr(lib, f"fma_{isa}")
    lanes = 8 if isa == "avx2" else 16
    f(10**6)
    t = time.perf_counter()
    f(10**7)
    n = max(10**6, int(10**7 * seconds / max(time.perf_counter() - t, 1e-6)))
    best = 0.0
    for _ in range(repeats):
        workers = [threading.Thread(target=f, args=(n,)) for _ in range(threads)]  # ctypes releases the GIL
        t = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        best = max(best, threads * n * CHAINS * lanes * 2 / (time.perf_counter() - t) / 1e9)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    from srgan.hardware import isa_report

    print(f"machine: {isa_report()}")
    for isa in ("avx2", "avx512"):
        peak = fma_peak(isa, args.threads)
        print(f"{isa}: " + (f"{peak:.0f} GFLOP/s fp32 FMA peak, {args.threads} threads" if peak else "not available"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
