"""Flood a real server from the loopback with 4x its worker count of concurrent clients."""

import io
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from conftest import natural_image  # noqa: E402
from served import peak_rss_mb, served  # noqa: E402

RSS_BOUND_MB = 1500  # stated bound for the default model, 1 worker, 64x64 inputs


def test_flood_gets_images_or_clean_refusals_and_server_survives():
    buf = io.BytesIO()
    Image.fromarray(natural_image(64, 64)).save(buf, "PNG")
    payload = buf.getvalue()
    workers, clients, per_client = 1, 4, 6
    with served("--device", "cpu", "--workers", str(workers), "--queue", "1", "--timeout", "60") as (url, proc):

        def client(i):
            out = []
            with httpx.Client(base_url=url, timeout=120) as c:
                for _ in range(per_client):
                    r = c.post("/v1/upscale", files={"image": ("a.png", payload)}, data={"format": "png"})
                    out.append(
                        (r.status_code, r.headers.get("retry-after"), r.content if r.status_code == 200 else r.json())
                    )
            return out

        with ThreadPoolExecutor(clients) as pool:
            results = [r for rs in pool.map(client, range(clients)) for r in rs]
        codes = [c for c, _, _ in results]
        assert len(results) == clients * per_client
        assert set(codes) <= {200, 429, 503}, codes
        assert codes.count(200) >= per_client and codes.count(429) > 0
        for code, retry, body in results:
            if code == 200:
                assert Image.open(io.BytesIO(body)).size == (256, 256)
            else:
                assert retry and "error" in body
        rss = peak_rss_mb(proc.pid)
        print(
            f"flood: {len(results)} requests, {codes.count(200)} images, {codes.count(429)} x 429, {codes.count(503)} "
            f"x 503, server peak RSS {rss:.0f} MB"
        )
        assert rss < RSS_BOUND_MB
        with httpx.Client(base_url=url, timeout=60) as c:  # still healthy and serving
            assert c.get("/healthz").json()["in_flight"] == 0
            assert c.post("/v1/upscale", files={"image": ("a.png", payload)}).status_code == 200


def test_mixed_hostile_flood_thin_images_huge_bodies_slow_clients():
    """Thin images, 300 MB bodies and clients that trickle their headers, beside normal requests:
    every answer is an image or a clean 4xx/5xx, and the server's RSS stays under the bound."""
    import socket
    import time

    import numpy as np

    buf = io.BytesIO()
    Image.fromarray(natural_image(48, 48)).save(buf, "PNG")
    normal = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((2, 6000, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    thin = buf.getvalue()
    args = ("--device", "cpu", "--workers", "1", "--queue", "2", "--timeout", "60", "--header-timeout", "2")
    with served(*args) as (url, proc):
        host, port = url.removeprefix("http://").split(":")

        def post(payload):
            with httpx.Client(base_url=url, timeout=120) as c:
                return c.post("/v1/upscale", files={"image": ("a.png", payload)}).status_code

        def huge():
            s = socket.create_connection((host, int(port)))
            s.sendall(b"POST /v1/upscale HTTP/1.1\r\nHost: x\r\nContent-Length: 314572800\r\n\r\n" + b"a" * 65536)
            s.settimeout(10)
            answer = s.recv(200)
            s.close()
            return int(answer.split()[1])

        def slow():
            s = socket.create_connection((host, int(port)))
            s.settimeout(10)
            closed_at = None
            t = time.perf_counter()
            try:
                for ch in b"POST /v1/upscale HTTP/1.1\r\nHost: x\r\n":
                    s.sendall(bytes([ch]))
                    time.sleep(0.2)
            except OSError:
                closed_at = time.perf_counter() - t
            s.close()
            return closed_at

        with ThreadPoolExecutor(12) as pool:
            jobs = [pool.submit(post, thin) for _ in range(3)] + [pool.submit(post, normal) for _ in range(4)]
            jobs += [pool.submit(huge) for _ in range(3)]
            slow_jobs = [pool.submit(slow) for _ in range(4)]
            codes = [j.result() for j in jobs]
            closed = [j.result() for j in slow_jobs]
        assert set(codes) <= {200, 413, 429, 503} and codes[-3:] == [413, 413, 413], codes
        assert codes.count(200) >= 2
        assert all(c is not None and c < 8 for c in closed), (
            f"trickling clients cut off after the header timeout: {closed}"
        )
        rss = peak_rss_mb(proc.pid)
        print(f"mixed flood: codes {codes}, slow clients closed after {closed} s, server peak RSS {rss:.0f} MB")
        assert rss < RSS_BOUND_MB
        with httpx.Client(base_url=url, timeout=60) as c:
            assert c.post("/v1/upscale", files={"image": ("a.png", normal)}).status_code == 200
