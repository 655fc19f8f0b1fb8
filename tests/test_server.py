import io
import threading
import time

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from conftest import natural_image  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from srgan.server import app as app_module  # noqa: E402
from srgan.server.app import create_app  # noqa: E402
from srgan.server.settings import ServerSettings  # noqa: E402


def png_bytes(arr, fmt="PNG"):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(ServerSettings(device="cpu"))) as c:
        yield c


def post(client, data, name="x.png", **form):
    return client.post("/v1/upscale", files={"image": (name, data, "application/octet-stream")}, data=form)


def test_health_models_openapi_and_page(client):
    assert client.get("/healthz").json()["status"] == "ok"
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert "bicubic" in models and models["srresnet-x4"]["default"] and "Set5" in models["srresnet-x4"]["metrics"]
    assert models["srresnet-x4-real"]["for_source"] == {
        "clean": "srresnet-x4",
        "photo": "srresnet-x4-jpeg",
        "degraded": "srresnet-x4-real",
    }
    # the GAN's family: its -real sibling for photos of either kind
    assert models["srgan-x4"]["for_source"] == {
        "clean": "srgan-x4",
        "photo": "srgan-x4-real",
        "degraded": "srgan-x4-real",
    }
    assert models["srgan-x4-real"]["for_source"]["clean"] == "srgan-x4"
    assert "/v1/upscale" in client.get("/openapi.json").json()["paths"]
    page = client.get("/")
    assert page.status_code == 200 and 'id="split"' in page.text and "Download" in page.text


@pytest.mark.parametrize("fmt,mime", [("png", "image/png"), ("jpeg", "image/jpeg"), ("webp", "image/webp")])
def test_upscale_happy_path(client, fmt, mime):
    r = post(client, png_bytes(natural_image(20, 24)), format=fmt)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == mime and r.headers["x-srgan-model"] == "srresnet-x4"
    assert int(r.headers["x-srgan-time-ms"]) >= 0
    assert Image.open(io.BytesIO(r.content)).size == (96, 80)
    from srgan.provenance import read_provenance

    rec = read_provenance(io.BytesIO(r.content))
    assert rec["model"] == "srresnet-x4" and rec["input_size"] == [24, 20]


def test_consistency_header_and_hallucination_map(client):
    data = png_bytes(natural_image(24, 24))
    r = post(client, data, model="bicubic")
    assert float(r.headers["x-srgan-lr-consistency-db"]) > 35  # bicubic then downscale ~ the input
    m = client.post("/v1/hallucination-map", files={"image": ("x.png", data)}, data={"model": "srresnet-x4"})
    assert m.status_code == 200 and Image.open(io.BytesIO(m.content)).size == (96, 96)
    bad = client.post("/v1/hallucination-map", files={"image": ("x.png", data)}, data={"model": "bicubic"})
    assert bad.status_code == 422


def test_bicubic_and_alpha(client):
    rgba = np.dstack([natural_image(16, 16), np.full((16, 16), 128, np.uint8)])
    r = post(client, png_bytes(rgba), model="bicubic")
    out = Image.open(io.BytesIO(r.content))
    assert r.status_code == 200 and out.size == (64, 64) and out.mode == "RGBA"
    r = post(client, png_bytes(rgba), model="srresnet-x4", format="jpeg")  # JPEG drops alpha instead of failing
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).mode == "RGB"


@pytest.mark.parametrize(
    "case,status,fragment",
    [
        ("text", 400, "not an image"),
        ("truncated", 400, "truncated"),
        ("empty", 400, "empty"),
        ("format", 422, "unsupported output format"),
        ("model", 404, "unknown model"),
        ("alpha", 422, "alpha must be in"),
        ("nofile", 422, "invalid request"),
    ],
)
def test_bad_inputs_are_4xx_json(client, case, status, fragment):
    good = png_bytes(natural_image(32, 32))
    if case == "text":
        r = post(client, b"hello world, not an image")
    elif case == "truncated":
        r = post(client, good[: len(good) // 2])
    elif case == "empty":
        r = post(client, b"")
    elif case == "format":
        r = post(client, good, format="gif")
    elif case == "model":
        r = post(client, good, model="nope")
    elif case == "alpha":
        r = post(client, good, alpha="1.5")
    else:
        r = client.post("/v1/upscale", data={"model": "bicubic"})
    assert r.status_code == status, r.text
    assert fragment in r.json()["error"] and "Traceback" not in r.text


@pytest.mark.parametrize(
    "limit,value,status,fragment",
    [
        ("max_upload_bytes", 2000, 413, "larger than the limit"),
        ("max_input_pixels", 500, 413, "over the limit"),
        ("max_output_pixels", 5000, 413, "output would be"),
        ("request_timeout", 0.001, 503, "longer than"),
    ],
)
def test_each_limit(limit, value, status, fragment):
    settings = ServerSettings(device="cpu", **{limit: value})
    with TestClient(create_app(settings)) as c:
        r = post(c, png_bytes(natural_image(40, 40)))
        assert r.status_code == status, r.text
        assert fragment in r.json()["error"]
        if status == 503:
            assert r.headers["retry-after"]
        assert post(c, png_bytes(natural_image(8, 8)), model="bicubic").status_code in (200, status)


@pytest.mark.parametrize("side,fragment", [(3000, "9.0 MP is over the limit of 4.0 MP"), (20000, "decompression bomb")])
def test_decompression_bombs_refused_from_the_header(side, fragment):
    # small files that claim huge sizes: refused before any pixel is decoded
    buf = io.BytesIO()
    Image.new("L", (side, side)).save(buf, "PNG", optimize=True)
    assert len(buf.getvalue()) < 600_000
    with TestClient(create_app(ServerSettings(device="cpu"))) as c:
        r = post(c, buf.getvalue())
    assert r.status_code == 413 and fragment in r.json()["error"]


def test_full_queue_gets_429_with_retry_after(monkeypatch):
    release = threading.Event()
    real = app_module._work

    def slow(*args):
        release.wait(10)
        return real(*args)

    monkeypatch.setattr(app_module, "_work", slow)
    app = create_app(ServerSettings(device="cpu", workers=1, queue_size=1))
    with TestClient(app) as c:
        results = []
        threads = [
            threading.Thread(
                target=lambda: results.append(post(c, png_bytes(natural_image(8, 8)), model="bicubic").status_code)
            )
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        deadline = time.time() + 10
        while app.state.admission.inside < 2 and time.time() < deadline:
            time.sleep(0.01)
        r = post(c, png_bytes(natural_image(8, 8)), model="bicubic")
        assert r.status_code == 429 and r.headers["retry-after"] == "5" and "busy" in r.json()["error"]
        release.set()
        for t in threads:
            t.join()
        assert results == [200, 200]
        assert app.state.admission.inside == 0
        assert post(c, png_bytes(natural_image(8, 8)), model="bicubic").status_code == 200
