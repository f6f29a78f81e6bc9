"""The one place that knows aiohttp's request type: aiohttp request <-> InboundRequest / AckResponse.

Also the single error middleware that maps gateway.errors to responses.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from gateway.errors import IntakeError, PayloadTooLarge, storage_full

log = logging.getLogger("intake.http")


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """What a channel sees of an HTTP request: nothing framework-specific, the raw body kept intact."""

    method: str
    path: str
    public_url: str
    headers: Mapping[str, str]  # looked up by lower-case name (see `header`)
    query: dict[str, str]
    raw_body: bytes
    remote: str = ""

    def header(self, name: str) -> str | None:
        value = self.headers.get(name.lower())
        if value is None or value.isascii():
            return value
        # aiohttp keeps bytes that are not UTF-8 as lone surrogates, which str.encode() refuses: a signature check
        # would fail with UnicodeEncodeError (a 500) instead of not matching (a 401 or 403).
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class AckResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> AckResponse:
        return cls(status=status, body=orjson.dumps(payload), content_type="application/json")


async def read_capped(request: web.Request, limit: int) -> bytes:
    """Read the body, refusing it before any hashing when it exceeds `limit` bytes."""
    length = request.content_length
    if length is not None:
        if length > limit:
            raise PayloadTooLarge(f"body is larger than {limit} bytes", limit=limit)
        # The parser delivers exactly Content-Length bytes, so one read is bounded by the check above.
        return await request.read()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is larger than {limit} bytes", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


def public_url(request: web.Request, base: str) -> str:
    """The URL the provider signed: the configured public base (we usually sit behind a proxy)."""
    if base:
        return base.rstrip("/") + request.path_qs
    return str(request.url)


async def to_inbound(request: web.Request, limit: int, base_url: str) -> InboundRequest:
    body = await read_capped(request, limit)
    return InboundRequest(
        method=request.method,
        path=request.path,
        public_url=public_url(request, base_url),
        headers=request.headers,  # case-insensitive already: no copy
        query=dict(request.query) if request.query_string else {},
        raw_body=body,
        remote=request.remote or "",
    )


def to_response(ack: AckResponse) -> web.Response:
    return web.Response(status=ack.status, body=ack.body, content_type=ack.content_type, headers=ack.headers)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _route(request: web.Request) -> str:
    """The route pattern, not the path: a path can carry a secret (a status link's token)."""
    info = request.match_info.route.resource
    return info.canonical if info is not None else "(unmatched)"


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except IntakeError as exc:
        # The path and the error code only: never the body, a header value or a signature.
        log.info("request refused", extra={"route": _route(request), "status": exc.status, "error": exc.code})
        return web.json_response(exc.body(), status=exc.status, headers=exc.headers())
    except web.HTTPException:
        raise
    except Exception as exc:
        if storage_full(exc):
            # Nothing was stored: the sender must try again, and the operator must free space.
            log.error("the disk is full: request refused", extra={"route": _route(request)})
            return web.json_response(
                {"error": "storage_full", "message": "the gateway's disk is full, nothing was stored; retry later"},
                status=503,
                headers={"Retry-After": "60"},
            )
        log.exception("unhandled error", extra={"route": _route(request)})
        return web.json_response({"error": "internal_error", "message": "internal error"}, status=500)
