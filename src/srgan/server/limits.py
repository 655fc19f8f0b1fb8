"""Connection-level limits that act before FastAPI reads a request.

- :class:`UploadLimit`: an ASGI middleware that answers 413 from the ``Content-Length`` header
  before one byte of the body is read, and counts a chunked (or lying) body while it streams,
  so that an oversized upload is never spooled to memory or to the temp folder.
- :class:`RateLimitedLog`: a logging filter that lets one record of a kind through per interval
  (the accept-error loop under a file-descriptor limit otherwise writes megabytes per second).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Awaitable, Callable

__all__ = ["UploadLimit", "RateLimitedLog", "json_response"]

Scope = dict[str, Any]
Message = dict[str, Any]


async def json_response(send: Callable[[Message], Awaitable[None]], status: int, error: str) -> None:
    """Send ``{"error": ...}`` with ``status`` and ``Connection: close`` over raw ASGI."""
    body = json.dumps({"error": error}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class UploadLimit:
    """Refuse request bodies over ``max_bytes`` (413) without reading or storing them."""

    def __init__(self, app: Callable, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        message = f"request body is larger than the limit of {self.max_bytes} bytes"
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await json_response(
                send, 413 if declared.isdigit() else 400, message if declared.isdigit() else "bad Content-Length"
            )
            return
        seen, over, started = 0, False, False

        async def counted_receive() -> Message:
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    over = True  # the app sees a disconnect and stops parsing; we answer
                    return {"type": "http.disconnect"}
            return msg

        async def guarded_send(msg: Message) -> None:
            nonlocal started
            if over and not started:
                return
            started = True
            await send(msg)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not over:
                raise
        if over and not started:
            await json_response(send, 413, message)


class RateLimitedLog(logging.Filter):
    """Pass the first record of each message template per ``interval`` seconds, then one
    summary with the count of those suppressed."""

    def __init__(self, interval: float = 10.0) -> None:
        super().__init__()
        self.interval = interval
        self._last: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = f"{record.name}:{record.msg}"
        now = time.monotonic()
        with self._lock:
            last, suppressed = self._last.get(key, (-1e18, 0))
            if now - last < self.interval:
                self._last[key] = (last, suppressed + 1)
                return False
            self._last[key] = (now, 0)
        if suppressed:
            record.msg = f"{record.msg} (and {suppressed} more like it in the last {self.interval:g} s)"
        return True


def header_timeout_protocol(timeout: float) -> type:
    """uvicorn's h11 protocol, closing a connection whose first request's headers have not all
    arrived ``timeout`` seconds after it opened (uvicorn itself only times out idle keep-alive
    connections, so 1000 silent sockets could hold every file descriptor)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutH11(H11Protocol):
        def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
            super().connection_made(transport)
            self._header_timer = self.loop.call_later(timeout, self._header_timeout)

        def _header_timeout(self) -> None:
            if self.cycle is None and not self.transport.is_closing():
                self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            self._header_timer.cancel()
            super().connection_lost(exc)

    return HeaderTimeoutH11
