"""What operators and machines ask a web process: /healthz, /readyz, /metrics and /openapi.json.

These share the public port, so what only an operator should read (which mailboxes fail and why) is
behind `server.operator_token`; a load balancer's probe gets a bare 200 or 503.
"""

from __future__ import annotations

import contextlib
import hmac
import os
from pathlib import Path
from typing import Any

import redis
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway import keys
from gateway.clock import Clock
from gateway.errors import OperatorOnly
from gateway.incidents.metrics import refresh_incident_metrics
from gateway.logs import mask
from gateway.mail.health import mailbox_report_async
from gateway.routing.sla import BreachCollector
from gateway.server import appkeys as K
from gateway.server.openapi import openapi_document
from gateway.settings import Settings
from workers.circuit import state_from

CLOCK = web.AppKey("clock", Clock)
BREACHES = web.AppKey("sla_breaches", BreachCollector)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def is_operator(request: web.Request) -> bool:
    """The request carries `Authorization: Bearer <server.operator_token>` (never true while none is set)."""
    token = request.app[K.SETTINGS].server.operator_token.get_secret_value()
    auth = request.headers.get("Authorization", "")
    if not token or not auth.lower().startswith("bearer "):
        return False
    # surrogateescape: bytes that are not UTF-8 reach us as lone surrogates, which a strict encode() refuses (a 500).
    return hmac.compare_digest(auth[7:].strip().encode("utf-8", "surrogateescape"), token.encode())


def _room_to_spool(settings: Settings, path: Path) -> bool:
    """Whether the spool's disk can take another message: writable, with room for one more body."""
    try:
        fs = os.statvfs(path)
    except OSError:
        return False
    return os.access(path, os.W_OK) and fs.f_bavail * fs.f_frsize >= settings.server.max_body_bytes


async def readyz(request: web.Request) -> web.Response:
    """200 while this process can take messages (into Redis, or its spool while Redis is away), else 503.

    A load balancer gets the bare answer. The detail (Redis, spool depth, each mailbox's problems) is for
    operators: it names mailboxes and what is wrong with them, so it takes the operator token."""
    committer = request.app[K.COMMITTER]
    settings = request.app[K.SETTINGS]
    try:
        await request.app[K.REDIS].ping()
        redis_ok = True
    except Exception:
        redis_ok = False
    accepting = redis_ok or _room_to_spool(settings, settings.data_path)
    status = 200 if accepting else 503
    if not is_operator(request):
        return web.json_response({"status": "ok" if accepting else "unavailable"}, status=status)
    body: dict[str, Any] = {
        "status": "ok" if redis_ok else "degraded",
        "redis": "up" if redis_ok else "down",
        "spool_depth": committer.spool.depth,
        "accepting": accepting,
    }
    if redis_ok and settings.channels.email.enabled:
        report = await mailbox_report_async(request.app[K.REDIS], settings)
        body["mailboxes"] = {h.mailbox: {"ok": h.ok, "problems": list(h.problems)} for h in report}
        # Not a reason to be degraded (every other message still flows), but an operator must see it (Zammad #1033).
        body["mail_quarantined"] = await request.app[K.REDIS].llen(keys.MAIL_QUARANTINE)
        if not all(h.ok for h in report):
            body["status"] = "degraded"
    outside = request.app[K.OUTSIDE_BACKENDS]
    if redis_ok and outside:
        # A ticket system that is down or refuses our credentials: its requests are held, none lost, but an
        # operator must see it (an expired token would otherwise wait silently).
        states = [state_from(name, await request.app[K.REDIS].hgetall(keys.backend_circuit(name))) for name in outside]
        body["backends"] = {s.backend: {"ok": s.ok, "state": s.kind, "problem": mask(s.message)} for s in states}
        if not all(s.ok for s in states):
            body["status"] = "degraded"
    if not accepting:
        body["status"] = "unavailable"
    # Still 200 when degraded: this process can take messages, so a load balancer must keep sending them.
    return web.json_response(body, status=status)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text. Only reads: the SLA sweep that writes the breach counts runs in the background.

    With `server.operator_token` set it is required here too (Prometheus sends it as `authorization`
    credentials); without one, /metrics stays open, as it must for a scraper to reach it."""
    if request.app[K.SETTINGS].server.operator_token.get_secret_value() and not is_operator(request):
        raise OperatorOnly("/metrics takes the operator token: Authorization: Bearer <server.operator_token>")
    m = request.app[K.METRICS]
    with contextlib.suppress(redis.RedisError, OSError):  # breach counts keep their last value
        await request.app[BREACHES].refresh(request.app[K.REDIS])
    m.spool_depth.set(request.app[K.COMMITTER].spool.depth)
    settings = request.app[K.SETTINGS]
    with contextlib.suppress(redis.RedisError, OSError):  # the gauges keep their last value
        await refresh_incident_metrics(request.app[K.REDIS], m)
    if settings.channels.email.enabled:
        try:
            for h in await mailbox_report_async(request.app[K.REDIS], settings):
                m.mailbox_healthy.labels(h.mailbox).set(1 if h.ok else 0)
            m.mail_quarantined.set(await request.app[K.REDIS].llen(keys.MAIL_QUARANTINE))
        except (redis.RedisError, OSError):
            pass  # the gauges keep their last value; intake_redis_up says why
    return web.Response(body=generate_latest(m.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.app[K.SETTINGS]))


def add_health_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)
