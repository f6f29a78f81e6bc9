"""What operators and machines ask a web process: /healthz, /readyz, /metrics and /openapi.json."""

from __future__ import annotations

import contextlib
from typing import Any

import redis
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway import keys
from gateway.clock import Clock
from gateway.incidents.metrics import refresh_incident_metrics
from gateway.logs import mask
from gateway.mail.health import mailbox_report_async
from gateway.routing.sla import BreachCollector, sweep_breaches
from gateway.server import appkeys as K
from gateway.server.openapi import openapi_document
from workers.circuit import state_from

CLOCK = web.AppKey("clock", Clock)
BREACHES = web.AppKey("sla_breaches", BreachCollector)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready while we can take messages: Redis, or the spool while Redis is away (degraded)."""
    committer = request.app[K.COMMITTER]
    try:
        await request.app[K.REDIS].ping()
        redis_ok = True
    except Exception:
        redis_ok = False
    body: dict[str, Any] = {
        "status": "ok" if redis_ok else "degraded",
        "redis": "up" if redis_ok else "down",
        "spool_depth": committer.spool.depth,
        "accepting": True,
    }
    settings = request.app[K.SETTINGS]
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
    # Still 200 when degraded: this process can take messages, so a load balancer must keep sending them.
    return web.json_response(body, status=200)


async def metrics(request: web.Request) -> web.Response:
    m = request.app[K.METRICS]
    try:
        await sweep_breaches(request.app[K.REDIS], request.app[CLOCK].now())
        await request.app[BREACHES].refresh(request.app[K.REDIS])
    except (redis.RedisError, OSError):
        pass  # breach counts keep their last value; intake_redis_up says why
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
