"""Server limits, each configurable from ``srgan serve`` flags."""

from __future__ import annotations

from dataclasses import dataclass

from ..inference import DEFAULT_TILE


@dataclass
class ServerSettings:
    max_upload_bytes: int = 25 * 1024 * 1024
    max_input_pixels: int = 4_000_000  # also the decompression-bomb guard: checked from the header before decoding
    max_output_pixels: int = 64_000_000
    request_timeout: float = 120.0  # seconds from acceptance to result
    workers: int = 1  # concurrent inferences; torch threads are split between them
    queue_size: int = 2  # accepted requests waiting for a worker; beyond that: 429
    retry_after: int = 5  # seconds, sent with 429/503
    default_model: str = "srresnet-x4"
    device: str = "auto"
    tile: int = DEFAULT_TILE
    # further .safetensors models (e.g. from `srgan convert`), served beside the packaged ones
    models_dir: str | None = None
    header_timeout: float = 10.0  # seconds a new connection may take to send its request headers
    keep_alive_timeout: int = 5  # seconds an idle keep-alive connection is kept
    max_connections: int = 256  # open connections and requests at once; more get 503 from uvicorn
    provenance: bool = True  # mark every output as synthesised (PNG text / XMP)
