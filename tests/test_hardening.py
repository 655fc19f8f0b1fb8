"""The defects found by an outside probe of the server, CLI, model files and resume (issue
"Hardening"), one test each; docs/reliability.md lists them with these tests."""

import io
import json
import os
import socket
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import natural_image
from PIL import Image, PngImagePlugin

from srgan.cli import main
from srgan.hub import ModelFileError, load_generator, save_generator
from srgan.imresize import _CACHE, imresize
from srgan.models import Generator


def _png(arr: np.ndarray, **text: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    for k, v in text.items():
        info.add_text(k, v, zip=True)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


# --- resampling memory --------------------------------------------------------------------


def test_imresize_memory_is_linear_in_the_long_side():
    """A 2 x 6000 image once took a dense 6000 x 24000 float64 matrix (1.15 GB), twice."""
    thin = np.random.default_rng(0).random((2, 6000, 4))
    tracemalloc.start()
    try:
        up = imresize(thin, 4)
        down = imresize(up, 0.25)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert up.shape == (8, 24000, 4) and down.shape == (2, 6000, 4)
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.0f} MB"


def test_weight_cache_is_bounded_in_bytes():
    for n in range(100, 3000, 97):
        imresize(np.zeros((n, 7), np.uint8), 4)
    imresize(np.zeros((2, 200000)), 4)  # its taps table (800000 x 6 indices and weights) is 77 MB
    assert _CACHE.size <= _CACHE.max_bytes
    assert all(key[1] < 200000 for key in _CACHE._items), "a large weight table is recomputed, not kept"


def test_cli_thin_rgba_with_report_under_a_memory_cap(tmp_path):
    """87 KB of 2 x 10000 RGBA once needed 3 GB (alpha bicubic + LR-consistency)."""
    src = tmp_path / "thin.png"
    Image.fromarray((np.random.default_rng(1).random((2, 10000, 4)) * 255).astype(np.uint8), "RGBA").save(src)
    cap = "import resource; resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30)); "
    code = cap + "from srgan.cli import main; import sys; sys.exit(main(sys.argv[1:]))"
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "upscale",
            str(src),
            "-o",
            str(tmp_path / "out.png"),
            "--report",
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads((tmp_path / "out.report.json").read_text())
    assert report["output_size"] == [40000, 8] and np.isfinite(report["lr_consistency_psnr"])


def test_enforce_consistency_refuses_what_its_dense_projection_cannot_hold(tmp_path, capsys):
    src = tmp_path / "thin.png"
    Image.fromarray(np.zeros((2, 3000, 3), np.uint8)).save(src)
    assert main(["upscale", str(src), "-o", str(tmp_path / "o.png"), "--enforce-consistency", "--device", "cpu"]) == 1
    assert "--enforce-consistency supports inputs up to 2048 px per side" in capsys.readouterr().err


# --- the server ---------------------------------------------------------------------------

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
from served import peak_rss_mb, served  # noqa: E402


def test_thin_image_under_a_memory_cap_leaves_the_server_up():
    """A 2 x 20000 PNG killed a server in a 6 GiB cgroup; here the cap is 4 GiB of address space."""
    thin = _png((np.random.default_rng(2).random((2, 20000, 3)) * 255).astype(np.uint8))
    with served("--device", "cpu", "--timeout", "300", memory_mb=4096) as (url, proc):
        with httpx.Client(base_url=url, timeout=300) as c:
            r = c.post("/v1/upscale", files={"image": ("thin.png", thin)}, data={"model": "srresnet-x4"})
            assert r.status_code == 200 or 400 <= r.status_code < 500, r.text
            if r.status_code == 200:
                assert Image.open(io.BytesIO(r.content)).size == (80000, 8)
            assert c.get("/healthz").json()["status"] == "ok"
        assert peak_rss_mb(proc.pid) < 2500


def test_after_a_timeout_the_next_request_is_served_at_once():
    """The abandoned job stops at its next tile, so the single worker is free again."""
    big = _png(natural_image(900, 900))
    small = _png(natural_image(24, 24))
    args = ("--device", "cpu", "--workers", "1", "--queue", "2", "--timeout", "3", "--tile", "64")
    with served(*args) as (url, proc):
        with httpx.Client(base_url=url, timeout=60) as c:
            c.post("/v1/upscale", files={"image": ("s.png", small)})  # load the model first
            r = c.post("/v1/upscale", files={"image": ("big.png", big)})
            assert r.status_code == 503 and "3 s limit" in r.json()["error"]
            t = time.perf_counter()
            r = c.post("/v1/upscale", files={"image": ("s.png", small)})
            assert r.status_code == 200 and time.perf_counter() - t < 2.5
            for _ in range(20):  # in_flight counts real work: 0 once the cancelled job has stopped
                if c.get("/healthz").json()["in_flight"] == 0:
                    break
                time.sleep(0.1)
            assert c.get("/healthz").json()["in_flight"] == 0


def test_a_client_that_leaves_cancels_its_work():
    big = _png(natural_image(900, 900))
    with served("--device", "cpu", "--workers", "1", "--timeout", "120", "--tile", "64") as (url, proc):
        with httpx.Client(base_url=url, timeout=60) as c:
            c.post("/v1/upscale", files={"image": ("s.png", _png(natural_image(24, 24)))})  # load the model first
            try:
                httpx.post(url + "/v1/upscale", files={"image": ("big.png", big)}, timeout=1.5)
            except httpx.TimeoutException:
                pass  # the client gave up and closed its connection
            assert c.get("/healthz").json()["in_flight"] == 1
            t = time.perf_counter()
            while c.get("/healthz").json()["in_flight"] and time.perf_counter() - t < 10:
                time.sleep(0.1)
            assert c.get("/healthz").json()["in_flight"] == 0 and time.perf_counter() - t < 4, "stopped, not finished"


def _raw_request(url: str, head: bytes, body_chunks, read_timeout: float = 10) -> tuple[bytes, int]:
    """Send ``head`` then the chunks until the server answers; (response, body bytes sent)."""
    host, port = url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)))
    s.sendall(head)
    sent = 0
    s.setblocking(False)
    response = b""
    try:
        for chunk in body_chunks:
            try:
                response += s.recv(65536)
                if response:
                    break
            except BlockingIOError:
                pass
            try:
                s.sendall(chunk)
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                time.sleep(0.01)
                continue
            sent += len(chunk)
        s.setblocking(True)
        s.settimeout(read_timeout)
        while b"\r\n\r\n" not in response:
            part = s.recv(65536)
            if not part:
                break
            response += part
    finally:
        s.close()
    return response, sent


def test_upload_limit_is_checked_before_the_body(tmp_path):
    """300 MB bodies: refused from Content-Length with nothing read, and a chunked one while it
    streams; nothing is spooled to the temp folder."""
    spool = tmp_path / "spool"
    spool.mkdir()
    limit = 500_000
    with served("--device", "cpu", "--max-upload-bytes", str(limit), env={"TMPDIR": str(spool)}) as (url, proc):
        rss0 = peak_rss_mb(proc.pid)
        host = url.removeprefix("http://").encode()
        head = b"POST /v1/upscale HTTP/1.1\r\nHost: " + host + b"\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        response, sent = _raw_request(url, head + b"Content-Length: 314572800\r\n\r\n", [])
        assert response.startswith(b"HTTP/1.1 413") and sent == 0
        part = (
            b'--x\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
        )
        chunks = [b"%x\r\n" % len(part) + part + b"\r\n"] + [b"%x\r\n" % 65536 + b"a" * 65536 + b"\r\n"] * 4800
        response, sent = _raw_request(url, head + b"Transfer-Encoding: chunked\r\n\r\n", iter(chunks))
        assert response.startswith(b"HTTP/1.1 413"), response[:200]
        assert sent < 16 * 2**20, f"{sent} bytes went out before the 413 (the kernel buffers some)"
        assert not list(spool.iterdir()), "nothing spooled"
        assert peak_rss_mb(proc.pid) - rss0 < 50
        assert b'"error"' in response or b"413" in response


def test_silent_connections_are_closed_after_the_header_timeout():
    with served("--device", "cpu", "--header-timeout", "1") as (url, proc):
        host, port = url.removeprefix("http://").split(":")
        idle = [socket.create_connection((host, int(port))) for _ in range(40)]
        time.sleep(2.0)
        closed = 0
        for s in idle:
            s.settimeout(2)
            try:
                closed += s.recv(1) == b""
            except (ConnectionResetError, TimeoutError):
                closed += 0
            s.close()
        assert closed == len(idle)
        assert httpx.get(url + "/healthz").json()["status"] == "ok"


def test_accept_errors_are_logged_once_per_interval():
    import logging

    from srgan.server.limits import RateLimitedLog

    f = RateLimitedLog(interval=60)

    def rec() -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, "", 0, "socket.accept() out of system resource", None, None)

    passed = [f.filter(rec()) for _ in range(1000)]
    assert passed.count(True) == 1
    f.interval = 0
    last = rec()
    assert f.filter(last) and "999 more like it" in last.msg


def test_format_limits_are_4xx_not_500():
    from fastapi.testclient import TestClient

    from srgan.server.app import create_app
    from srgan.server.settings import ServerSettings

    with TestClient(create_app(ServerSettings(device="cpu"))) as c:
        wide = _png(np.zeros((4, 4100, 3), np.uint8))
        r = c.post("/v1/upscale", files={"image": ("w.png", wide)}, data={"format": "webp", "model": "bicubic"})
        assert r.status_code == 422 and "too large for WEBP" in r.json()["error"]
        thin = _png(np.zeros((2, 16400, 3), np.uint8))
        r = c.post("/v1/upscale", files={"image": ("t.png", thin)}, data={"format": "jpeg", "model": "bicubic"})
        assert r.status_code == 422 and "too large for JPEG" in r.json()["error"]
        assert c.get("/no/such/page").json() == {"error": "Not Found"}, "one JSON error shape"
        assert c.get("/v1/upscale").status_code == 405 and "error" in c.get("/v1/upscale").json()


def test_text_chunks_are_capped_so_outputs_stay_small():
    from fastapi.testclient import TestClient

    from srgan.server.app import create_app
    from srgan.server.settings import ServerSettings

    # 40 compressed chunks of 900 KB (each under Pillow's 1 MB limit): 36 MB of text in a small upload
    bomb = _png(natural_image(16, 16), Author="me", **{f"Comment{i}": "x" * 900_000 for i in range(40)})
    assert len(bomb) < 100_000
    with TestClient(create_app(ServerSettings(device="cpu"))) as c:
        r = c.post("/v1/upscale", files={"image": ("b.png", bomb)}, data={"model": "bicubic"})
    assert r.status_code == 200 and len(r.content) < 200_000
    out = Image.open(io.BytesIO(r.content))
    assert not any(k.startswith("Comment") for k in out.info) and out.info.get("Author") == "me"


# --- model files --------------------------------------------------------------------------


def _tiny(tmp_path: Path, **meta) -> Path:
    g = Generator(2, 1, 8)
    return save_generator(g, tmp_path / "m.safetensors", meta)


def test_model_config_out_of_range_is_refused_before_building(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "huge.safetensors"
    save_file(
        {"x": torch.zeros(1)},
        str(path),
        metadata={"srgan_config": json.dumps({"arch": "srresnet", "num_blocks": 200000})},
    )
    assert path.stat().st_size < 300
    t = time.perf_counter()
    with pytest.raises(ModelFileError, match=r"num_blocks = 200000 is out of range \[0, 64\]"):
        load_generator(path)
    assert time.perf_counter() - t < 2


@pytest.mark.parametrize(
    "meta,sidecar,msg",
    [
        ("5", None, "must be a JSON object, got int"),
        ("[1, 2]", None, "must be a JSON object, got list"),
        ('{"arch": "srresnet", "scale": [4]}', None, r"scale must be int, got \[4\]"),
        ('{"arch": "srresnet", "num_blocks": true}', None, "num_blocks must be int, got True"),
        ('{"arch": 7}', None, "arch must be a name"),
        ("{not json", None, "not valid JSON"),
        (None, "[1]", "must be a JSON object, got list"),
        (None, "3", "must be a JSON object, got int"),
        (None, "null", "must be a JSON object, got NoneType"),
        (None, "[" * 100000 + "]" * 100000, "not valid JSON"),
    ],
)
def test_malformed_model_configs_are_one_line_errors(tmp_path, capsys, meta, sidecar, msg):
    from safetensors.torch import save_file

    g = Generator(2, 1, 8)
    path = tmp_path / "bad.safetensors"
    tensors = {k: v.contiguous() for k, v in g.state_dict().items()}
    base = {"srgan_config": json.dumps({"arch": "srresnet", "scale": 2, "num_blocks": 1, "channels": 8})}
    save_file(tensors, str(path), metadata={"srgan_config": meta} if meta is not None else base)
    if sidecar is not None:
        path.with_suffix(".json").write_text(sidecar)
    with pytest.raises(ModelFileError, match=msg):
        load_generator(path)
    img = tmp_path / "in.png"
    Image.fromarray(natural_image(8, 8)).save(img)
    assert main(["upscale", str(img), "-o", str(tmp_path / "o.png"), "-m", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_integer_weights_and_shapes_are_checked_from_the_header(tmp_path):
    from safetensors.torch import save_file

    g = Generator(2, 1, 8)
    cfg = {"srgan_config": json.dumps({"arch": "srresnet", "scale": 2, "num_blocks": 1, "channels": 8})}
    tensors = {k: v.contiguous() for k, v in g.state_dict().items()}
    save_file(
        {**tensors, "tail.weight": tensors["tail.weight"].long()}, str(tmp_path / "int.safetensors"), metadata=cfg
    )
    with pytest.raises(ModelFileError, match="tail.weight is I64; weights must be floating point"):
        load_generator(tmp_path / "int.safetensors")
    save_file({**tensors, "tail.weight": torch.zeros(3, 8, 3, 3)}, str(tmp_path / "shape.safetensors"), metadata=cfg)
    with pytest.raises(ModelFileError, match=r"tail.weight has shape \(3, 8, 3, 3\), expected \(3, 8, 9, 9\)"):
        load_generator(tmp_path / "shape.safetensors")


# --- checkpoints and resume ---------------------------------------------------------------


def _run_config(tmp_path: Path, steps: int) -> Path:
    import yaml

    data = tmp_path / "hr"
    data.mkdir(exist_ok=True)
    for i in range(2):
        Image.fromarray(natural_image(40, 40, seed=i)).save(data / f"{i}.png")
    cfg = {
        "out_dir": str(tmp_path / "run"), "steps": steps, "threads": 1, "log_every": 1, "ckpt_every": 1,
        "keep_checkpoints": 2, "tensorboard": False, "model": {"scale": 2, "num_blocks": 1, "channels": 8},
        "loss": [{"type": "pixel"}], "data": {"train": [str(data)], "crop": 16, "batch_size": 2},
    }  # fmt: skip
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_resume_with_only_unreadable_checkpoints_stops_unless_restart(tmp_path, capsys):
    from srgan.train.checkpoint import list_checkpoints

    cfg = _run_config(tmp_path, 3)
    assert main(["train", "--config", str(cfg), "--no-progress"]) == 0
    ckpts = tmp_path / "run" / "checkpoints"
    for p in list_checkpoints(ckpts):
        p.write_bytes(p.read_bytes()[:100])  # every checkpoint truncated
    args = ["train", "--config", str(cfg), "--no-progress", "--resume", "--set", "steps=4"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "none of the 2 checkpoints" in err and "pass --restart" in err
    assert main([*args, "--restart"]) == 0
    names = [p.name for p in list_checkpoints(ckpts)]
    assert names == ["ckpt_000000003.pt", "ckpt_000000004.pt"], "the new run's checkpoints are kept"
    assert len(list(ckpts.glob("*.unreadable"))) == 2, "the damaged ones are set aside, not deleted"
    assert main(["export-weights", str(tmp_path / "run"), str(tmp_path / "m.safetensors")]) == 0


def test_pruning_never_deletes_the_newest_checkpoint(tmp_path):
    from srgan.train.checkpoint import list_checkpoints, save_checkpoint

    d = tmp_path / "c"
    d.mkdir()
    (d / "ckpt_000000900.pt").write_bytes(b"stale, from another run")
    (d / ".tmp_orphan").write_bytes(b"half a checkpoint")
    for step in (1, 2, 3):
        save_checkpoint({"step": step}, d, step, keep=2)
    names = [p.name for p in list_checkpoints(d)]
    assert "ckpt_000000003.pt" in names and "ckpt_000000002.pt" in names and "ckpt_000000001.pt" not in names
    assert not (d / ".tmp_orphan").exists(), "temp files of a killed writer are removed on the next save"


def test_old_format_and_integer_checkpoints_are_refused(tmp_path, capsys):
    from srgan.train.checkpoint import MAGIC

    cfg = _run_config(tmp_path, 2)
    assert main(["train", "--config", str(cfg), "--no-progress"]) == 0
    newest = sorted((tmp_path / "run" / "checkpoints").glob("ckpt_*.pt"))[-1]
    payload = newest.read_bytes()[len(MAGIC) + 65 :]
    newest.write_bytes(payload)  # an older srgan's plain torch.save file: nothing to verify
    out = tmp_path / "m.safetensors"
    assert main(["export-weights", str(newest), str(out)]) == 2
    assert "no embedded SHA-256" in capsys.readouterr().err
    assert main(["export-weights", str(newest), str(out), "--trust-unverified"]) == 0
    state = torch.load(io.BytesIO(payload), weights_only=True)
    state["ema"]["module"]["tail.weight"] = state["ema"]["module"]["tail.weight"].long()
    buf = io.BytesIO()
    torch.save(state, buf)
    newest.write_bytes(buf.getvalue())
    assert main(["export-weights", str(newest), str(tmp_path / "n.safetensors"), "--trust-unverified"]) == 2
    assert "weights must be floating point" in capsys.readouterr().err


# --- the CLI --------------------------------------------------------------------------------


def test_sidecar_outputs_are_not_overwritten(tmp_path, capsys):
    src = tmp_path / "in.png"
    Image.fromarray(natural_image(12, 12)).save(src)
    out = tmp_path / "out"
    out.mkdir()
    for name in ("in_compare.png", "in.report.json"):
        (out / name).write_text("mine")
        args = ["upscale", str(src), "-o", str(out), "--compare", "--report", "--device", "cpu"]
        assert main(args) == 1
        assert f"{name}: already exists" in capsys.readouterr().err
        assert (out / name).read_text() == "mine" and not (out / "in.png").exists(), "nothing written"
        (out / name).unlink()
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "in_hallucination.png").write_text("mine")
    args = ["upscale", str(src), "-o", str(out), "--hallucination-map", str(tmp_path / "maps"), "--device", "cpu"]
    assert main(args) == 1 and (tmp_path / "maps" / "in_hallucination.png").read_text() == "mine"


def test_inspect_survives_deep_nesting(tmp_path, capsys):
    from srgan.provenance import PNG_KEY

    path = tmp_path / "deep.png"
    path.write_bytes(_png(np.zeros((4, 4, 3), np.uint8), **{PNG_KEY: "[" * 200000 + "]" * 200000}))
    ok = tmp_path / "ok.png"
    Image.fromarray(natural_image(4, 4)).save(ok)
    assert main(["inspect", str(path), str(ok)]) == 1  # the run goes on to the next file
    captured = capsys.readouterr()
    assert f"{path}: cannot read (provenance record is nested too deeply" in captured.err
    assert f"{ok}: no srgan provenance" in captured.out


def test_orphan_temp_files_are_removed_on_the_next_write(tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray(natural_image(8, 8)).save(src)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tmp_path / f".out.png.tmp{dead.pid}"
    orphan.write_bytes(b"half an image")
    live = tmp_path / f".out.png.tmp{os.getpid()}9"  # a pid that is not running either, unless by chance
    assert main(["upscale", str(src), "-o", str(tmp_path / "out.png"), "--device", "cpu"]) == 0
    assert not orphan.exists() and (tmp_path / "out.png").exists()
    assert not live.exists()
    assert zlib.crc32(b"") == 0  # zlib is imported for the PNG helper's compressed text
