"""Dataset download: resumable HTTP with SHA-256 verification and safe extraction.

``srgan data div2k --root DIR`` fetches the official DIV2K HR archives
(Agustsson & Timofte, CVPRW 2017). Sizes and SHA-256 digests are the ones
TensorFlow Datasets records for the same URLs.
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

__all__ = ["Archive", "DIV2K", "DownloadError", "download", "extract_zip", "fetch_archives"]

DIV2K_BASE_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"


class DownloadError(RuntimeError):
    """A download or extraction failed; the message says what to do."""


@dataclass(frozen=True)
class Archive:
    filename: str
    size: int
    sha256: str
    folder: str  # what the archive extracts to


DIV2K = {
    "train": Archive(
        "DIV2K_train_HR.zip",
        3_530_603_713,
        "9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335",
        "DIV2K_train_HR",
    ),
    "valid": Archive(
        "DIV2K_valid_HR.zip",
        448_993_893,
        "20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc",
        "DIV2K_valid_HR",
    ),
}


def _sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def download(
    url: str,
    dest: Path,
    size: int | None = None,
    sha256: str | None = None,
    retries: int = 3,
    progress: bool = True,
    timeout: float = 60,
) -> Path:
    """Download ``url`` to ``dest``, resuming ``dest.part`` with HTTP Range; verify the SHA-256."""
    dest = Path(dest)
    if dest.exists() and (sha256 is None or _sha256(dest) == sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        have = part.stat().st_size if part.exists() else 0
        req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                if have and resp.status != 206:  # server ignored the Range: start over
                    have = 0
                total = size or (have + int(resp.headers.get("Content-Length", 0)) or None)
                with (
                    part.open("ab" if have else "wb") as f,
                    tqdm(
                        total=total, initial=have, unit="B", unit_scale=True, desc=dest.name, disable=not progress
                    ) as bar,
                ):
                    while block := resp.read(1 << 20):
                        f.write(block)
                        bar.update(len(block))
            break
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and size and have >= size:  # already complete
                break
            if attempt == retries:
                raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            if attempt == retries:
                raise DownloadError(
                    f"{url}: {getattr(exc, 'reason', exc)}; run the command again to resume from "
                    f"{part.stat().st_size if part.exists() else 0} bytes"
                ) from None
        time.sleep(min(2**attempt, 30))
    got = part.stat().st_size
    if size is not None and got != size:
        raise DownloadError(f"{dest.name}: got {got} bytes, expected {size}; run again to resume")
    if sha256 is not None:
        digest = _sha256(part)
        if digest != sha256:
            part.unlink()
            raise DownloadError(
                f"{dest.name}: SHA-256 mismatch (got {digest[:16]}..., expected {sha256[:16]}...); the corrupted file "
                "was deleted, run again to download it anew"
            )
    os.replace(part, dest)
    return dest


def extract_zip(archive: Path, root: Path) -> None:
    """Extract safely: every member must stay inside ``root``."""
    root = Path(root).resolve()
    try:
        with zipfile.ZipFile(archive) as z:
            for m in z.infolist():
                target = (root / m.filename).resolve()
                if root not in target.parents and target != root:
                    raise DownloadError(f"{archive.name}: member {m.filename!r} would extract outside {root}")
            z.extractall(root)
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{archive}: not a valid zip ({exc}); delete it and run again") from None


def fetch_archives(
    root: str | Path, archives: list[Archive], base_url: str, keep_archives: bool = False, progress: bool = True
) -> list[Path]:
    """Download (resumable, verified) and extract each archive into ``root``; returns the extracted folders."""
    root = Path(root)
    folders = []
    for a in archives:
        folder = root / a.folder
        marker = folder / ".complete"
        if marker.exists():
            folders.append(folder)
            continue
        zpath = download(
            base_url.rstrip("/") + "/" + a.filename, root / a.filename, a.size, a.sha256, progress=progress
        )
        extract_zip(zpath, root)
        marker.write_text(a.sha256 + "\n")
        if not keep_archives:
            zpath.unlink()
        folders.append(folder)
    return folders
