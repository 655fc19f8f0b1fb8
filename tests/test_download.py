"""DIV2K download against a local HTTP server (127.0.0.1) serving a zip the test builds."""

import hashlib
import http.server
import io
import threading
import zipfile

import numpy as np
import pytest
from conftest import natural_image
from PIL import Image

from srgan.download import Archive, DownloadError, download, fetch_archives
from srgan.prepare import crop_positions, extract_subimages


class _Server:
    """Serves one payload at /<name>, honouring Range; can cut a response short or corrupt it."""

    def __init__(self, name: str, payload: bytes):
        self.name, self.payload = name, payload
        self.ranges: list[str | None] = []
        self.cut_after: int | None = None
        self.corrupt = False
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path != f"/{outer.name}":
                    self.send_error(404)
                    return
                data = bytearray(outer.payload)
                if outer.corrupt:
                    data[len(data) // 2] ^= 0xFF
                rng = self.headers.get("Range")
                outer.ranges.append(rng)
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                body = bytes(data[start:])
                self.send_response(206 if rng else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.cut_after is not None:
                    self.wfile.write(body[: outer.cut_after])
                    self.wfile.flush()
                    self.connection.shutdown(2)  # drop the connection mid-transfer
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def div2k_like():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(3):
            im = io.BytesIO()
            Image.fromarray(natural_image(64, 80, seed=i)).save(im, "PNG")
            z.writestr(f"Tiny_HR/{i:04d}.png", im.getvalue())
    payload = buf.getvalue()
    archive = Archive("Tiny_HR.zip", len(payload), hashlib.sha256(payload).hexdigest(), "Tiny_HR")
    server = _Server(archive.filename, payload)
    yield archive, server
    server.close()


def test_download_extract_and_skip_when_done(tmp_path, div2k_like):
    archive, server = div2k_like
    (folder,) = fetch_archives(tmp_path, [archive], server.url, progress=False)
    assert sorted(p.name for p in folder.glob("*.png")) == ["0000.png", "0001.png", "0002.png"]
    assert not (tmp_path / archive.filename).exists()  # archive removed after extraction
    n = len(server.ranges)
    fetch_archives(tmp_path, [archive], server.url, progress=False)
    assert len(server.ranges) == n  # nothing downloaded again


def test_resume_after_dropped_connection(tmp_path, div2k_like):
    archive, server = div2k_like
    server.cut_after = archive.size // 3
    with pytest.raises(DownloadError, match="resume"):
        download(
            f"{server.url}/{archive.filename}",
            tmp_path / archive.filename,
            archive.size,
            archive.sha256,
            retries=0,
            progress=False,
        )
    part = tmp_path / (archive.filename + ".part")
    assert 0 < part.stat().st_size < archive.size
    server.cut_after = None
    path = download(
        f"{server.url}/{archive.filename}", tmp_path / archive.filename, archive.size, archive.sha256, progress=False
    )
    assert server.ranges[-1] == f"bytes={archive.size // 3}-"  # resumed with a Range request
    assert hashlib.sha256(path.read_bytes()).hexdigest() == archive.sha256


def test_corrupted_download_is_rejected_and_deleted(tmp_path, div2k_like):
    archive, server = div2k_like
    server.corrupt = True
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        fetch_archives(tmp_path, [archive], server.url, progress=False)
    assert not list(tmp_path.glob("*.part")) and not (tmp_path / archive.folder).exists()


def test_cli_unknown_split(tmp_path):
    from srgan.cli import main

    assert main(["data", "div2k", "--root", str(tmp_path), "--splits", "test"]) == 2


def test_prepare_subimages(tmp_path):
    src = tmp_path / "hr"
    src.mkdir()
    Image.fromarray(natural_image(100, 130)).save(src / "a.png")
    assert crop_positions(130, 48, 24, 10) == [0, 24, 48, 72, 82]
    n = extract_subimages(src, tmp_path / "sub", crop=48, step=24, min_tail=10, progress=False)
    files = sorted((tmp_path / "sub").glob("*.png"))
    assert n == len(files) == len(crop_positions(100, 48, 24, 10)) * 5
    img = np.asarray(Image.open(src / "a.png"))
    first = np.asarray(Image.open(files[0]))
    assert np.array_equal(first, img[:48, :48])
