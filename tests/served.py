"""Test harness: run ``srgan serve`` in a child process on a free loopback port (tests, benchmarks/load_test.py)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Iterator

__all__ = ["served", "peak_rss_mb", "current_rss_mb"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(
    *args: str, startup_timeout: float = 60, memory_mb: int | None = None, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Yield ``(base_url, process)`` of a server bound to 127.0.0.1; stops it afterwards.
    ``memory_mb`` caps the server's address space (RLIMIT_AS), as a small container would."""
    import os

    port = _free_port()

    def cap() -> None:
        if memory_mb:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))

    proc = subprocess.Popen(
        [sys.executable, "-m", "srgan.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=cap if memory_mb else None,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + startup_timeout
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}") from None
                if time.time() > deadline:
                    raise TimeoutError("server did not start") from None
                time.sleep(0.1)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _status_kb(pid: int, key: str) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return float(line.split()[1])
    return float("nan")


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size of a live process (Linux VmHWM)."""
    return _status_kb(pid, "VmHWM") / 1024


def current_rss_mb(pid: int) -> float:
    return _status_kb(pid, "VmRSS") / 1024
