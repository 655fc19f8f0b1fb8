"""FastAPI application: models loaded once, bounded worker pool, strict limits.

Inference runs in a thread pool off the event loop. Admission is bounded by a
counter of ``workers + queue_size`` slots: a request that finds no slot gets
429 with ``Retry-After`` at once, so the queue never grows without bound.
Every failure is a JSON ``{"error": ...}`` with a 4xx/5xx code, never a traceback.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from PIL import Image
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..api import SRModel, bicubic_upscale, from_pretrained
from ..faithfulness import hallucination_map, lr_consistency, overlay
from ..hub import SOURCE_SIBLINGS, ModelFileError, mmse_reference, model_for_source, packaged_models, read_config
from ..image_io import ImageError, check_format_size, encode_image, read_image_bytes
from ..inference import Cancelled
from .limits import UploadLimit
from .settings import ServerSettings

FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "webp": "image/webp"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class ModelPool:
    """Packaged models, each loaded once on first use and shared by all requests."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self._models: dict[str, SRModel] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return list(packaged_models(self.settings.models_dir))

    def get(self, name: str, alpha: float | None = None) -> SRModel:
        key = (name, None if alpha is None else round(alpha, 2))  # alpha in steps of 0.01 bounds the cache
        with self._lock:
            if key not in self._models:
                if name not in self.names():
                    raise ApiError(404, f"unknown model '{name}'; available: {', '.join(['bicubic', *self.names()])}")
                if len(self._models) >= 16:
                    self._models.pop(next(k for k in self._models if k[1] is not None), None)
                self._models[key] = from_pretrained(
                    name,
                    device=self.settings.device,
                    tile=self.settings.tile,
                    alpha=key[1],
                    models_dir=self.settings.models_dir,
                )
            return self._models[key]


class Admission:
    """At most ``capacity`` requests inside (running or queued); others are refused."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.inside = capacity, 0
        self._lock = threading.Lock()

    def try_enter(self) -> bool:
        with self._lock:
            if self.inside >= self.capacity:
                return False
            self.inside += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.inside -= 1


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or ServerSettings()
    app = FastAPI(title="srgan", version=__version__, description="Single-image super-resolution (SRResNet/SRGAN).")
    pool = ModelPool(settings)
    executor = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="srgan-infer")
    admission = Admission(settings.workers + settings.queue_size)
    app.state.settings, app.state.pool, app.state.admission = settings, pool, admission
    # multipart framing around the image: a little over the image limit
    app.add_middleware(UploadLimit, max_bytes=settings.max_upload_bytes + 65536)
    try:
        import torch

        torch.set_num_threads(max(1, torch.get_num_threads() // settings.workers))
    except Exception:  # pragma: no cover - torch always present
        pass

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": str(exc.detail)}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return JSONResponse({"error": f"invalid request: {where} {first.get('msg', '')}".strip()}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": f"internal error: {type(exc).__name__}"}, status_code=500)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "in_flight": admission.inside, "capacity": admission.capacity}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        out = [{"name": "bicubic", "scale": 4, "description": "MATLAB-compatible bicubic interpolation (baseline)"}]
        names = packaged_models(settings.models_dir)
        for name, path in names.items():
            cfg = read_config(path)
            out.append(
                {
                    "name": name,
                    "arch": cfg.get("arch"),
                    "scale": cfg.get("scale"),
                    "num_blocks": cfg.get("num_blocks"),
                    "description": cfg.get("description", ""),
                    "metrics": cfg.get("metrics", {}),
                    "default": name == settings.default_model,
                    # the model of this family for each kind of input (the page's "source" choice)
                    "for_source": {src: model_for_source(name, src, names) for src in SOURCE_SIBLINGS},
                }
            )
        return {"models": out}

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse((resources.files("srgan.server") / "static" / "index.html").read_text())

    @app.post("/v1/upscale")
    async def upscale(
        request: Request,
        image: UploadFile = File(...),
        model: str = Form(None),
        format: str = Form("png"),
        scale: int = Form(4),
        alpha: float | None = Form(None),
    ) -> Response:
        fmt = format.lower()
        if fmt not in FORMATS and fmt != "map":
            raise ApiError(422, f"unsupported output format '{format}' (use png, jpeg or webp)")
        name = model or settings.default_model
        if alpha is not None and not 0.0 <= alpha <= 1.0:
            raise ApiError(422, f"alpha must be in [0, 1], got {alpha}")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_upload_bytes + 65536:
            raise ApiError(413, f"upload is larger than the limit of {settings.max_upload_bytes} bytes")
        data = await image.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise ApiError(413, f"upload is larger than the limit of {settings.max_upload_bytes} bytes")
        if not admission.try_enter():
            raise ApiError(
                429,
                "server busy: all workers and queue slots are taken; retry later",
                {"Retry-After": str(settings.retry_after)},
            )
        # the slot is released when the work really ends, not when the answer is sent: a request that
        # timed out or lost its client is cancelled between tiles and keeps its slot until it stops
        cancel = threading.Event()
        t0 = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            job = loop.run_in_executor(
                executor, _work, pool, settings, data, image.filename or "upload", name, fmt, scale, alpha, cancel
            )
        except BaseException:
            admission.leave()
            raise
        job.add_done_callback(lambda _: admission.leave())
        watcher = asyncio.ensure_future(_wait_for_disconnect(request))
        try:
            done, _ = await asyncio.wait(
                {job, watcher}, timeout=settings.request_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            watcher.cancel()
        if job not in done:
            cancel.set()
            job.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieve the Cancelled error
            if watcher in done:
                return Response(status_code=499)  # client closed the request; nobody reads this
            raise ApiError(
                503,
                f"request took longer than the {settings.request_timeout:g} s limit",
                {"Retry-After": str(settings.retry_after)},
            )
        body, used, consistency = job.result()
        ms = (time.perf_counter() - t0) * 1000
        return Response(
            body,
            media_type=FORMATS[fmt] if fmt in FORMATS else "image/png",
            headers={
                "X-SRGAN-Model": used,
                "X-SRGAN-Time-Ms": f"{ms:.0f}",
                "Server-Timing": f"upscale;dur={ms:.0f}",
                "X-SRGAN-LR-Consistency-dB": f"{consistency:.2f}",
            },
        )

    @app.post("/v1/hallucination-map")
    async def hallucination(
        request: Request, image: UploadFile = File(...), model: str = Form(None), alpha: float | None = Form(None)
    ) -> Response:
        """PNG heatmap (over the SR result in gray) of detail that departs from the MMSE model or the input."""
        return await upscale(request, image=image, model=model, format="map", scale=4, alpha=alpha)

    app.router.on_shutdown.append(lambda: executor.shutdown(wait=False, cancel_futures=True))
    return app


async def _wait_for_disconnect(request: Request, every: float = 0.5) -> None:
    """Return when the client has closed the connection."""
    while not await request.is_disconnected():
        await asyncio.sleep(every)


def _work(
    pool: ModelPool,
    settings: ServerSettings,
    data: bytes,
    filename: str,
    name: str,
    fmt: str,
    scale: int,
    alpha: float | None = None,
    cancel: threading.Event | None = None,
) -> tuple[bytes, str, float]:
    """Decode, check limits, upscale, encode (runs in a worker thread); also the LR-consistency PSNR.

    ``fmt == "map"`` returns the hallucination-map overlay as PNG instead of the image.
    """
    if cancel is not None and cancel.is_set():  # timed out or abandoned while queued
        raise Cancelled("cancelled before it started")
    try:
        img = read_image_bytes(data, filename, max_pixels=settings.max_input_pixels)
    except ImageError as exc:
        status = 413 if "over the limit" in str(exc) or "bomb" in str(exc) else 400
        raise ApiError(status, str(exc)) from None
    if name == "bicubic":
        model_scale = scale
        if scale not in (2, 4, 8):
            raise ApiError(422, "scale must be 2, 4 or 8")
    else:
        try:
            model = pool.get(name, alpha)
        except ModelFileError as exc:
            raise ApiError(404 if "not found" in str(exc) else 422, str(exc)) from None
        model_scale = model.scale
    w, h = img.size
    if w * h * model_scale**2 > settings.max_output_pixels:
        raise ApiError(
            413,
            f"output would be {w * model_scale}x{h * model_scale} = {w * h * model_scale**2 / 1e6:.1f} MP, over the "
            f"limit of {settings.max_output_pixels / 1e6:.1f} MP",
        )
    if fmt != "map":
        try:
            check_format_size(fmt, w * model_scale, h * model_scale)
        except ImageError as exc:
            raise ApiError(422, str(exc)) from None
    out = bicubic_upscale(img, model_scale) if name == "bicubic" else model.upscale_data(img, cancel)
    used = name if name == "bicubic" else model.name  # with the alpha actually used: srgan-x4@alpha=0.5
    consistency = lr_consistency(out.color, img.color, model_scale)
    if fmt == "map":
        if name == "bicubic":
            raise ApiError(422, "the hallucination map needs a model, not bicubic")
        ref_name = mmse_reference(model.config, model_scale)
        reference = (
            out if ref_name == name or ref_name not in pool.names() else pool.get(ref_name).upscale_data(img, cancel)
        )
        heat = hallucination_map(out.color, reference.color, img.color, model_scale)
        buf = io.BytesIO()
        Image.fromarray(overlay(out.color, heat)).save(buf, "PNG")  # image-sized: the web page overlays it
        return buf.getvalue(), used, consistency
    if settings.provenance:
        from ..provenance import make_record

        out.provenance = make_record(
            used, model_scale, img.size, alpha=None if name == "bicubic" else model.config.get("alpha")
        )
    if fmt in ("jpeg", "jpg") and out.alpha is not None:
        out = out.with_pixels(out.color, None)  # JPEG has no alpha: flatten by dropping it
    return encode_image(out, fmt), used, consistency
