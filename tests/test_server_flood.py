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
