"""The aiohttp application: routes, typed state, and the background tasks that keep commits flowing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import redis
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from channels import enabled_channels
from channels.slack import SlackChannel
from channels.twilio_hooks import add_twilio_routes
from gateway import keys
from gateway.clock import Clock, SystemClock
from gateway.errors import NotFound
from gateway.incidents.metrics import refresh_incident_metrics
from gateway.intake.runtime import Runtime, build_runtime
from gateway.logs import quiet_access_log
from gateway.mail.health import mailbox_report_async
from gateway.outbox.templating import page_env
from gateway.routing.router import refresh_forever
from gateway.routing.sla import BreachCollector, sweep_breaches
from gateway.server import appkeys as K
from gateway.server.http import Handler, error_middleware, to_inbound, to_response
from gateway.server.openapi import openapi_document
from gateway.settings import Settings
from gateway.store.blobs import BlobStore
from gateway.store.redis_conn import Durability, announce_durability, check_durability, sync_client
from gateway.web.pages import add_page_routes

log = logging.getLogger("intake.app")

RUNTIME = web.AppKey("runtime", Runtime)
CLOCK = web.AppKey("clock", Clock)
BREACHES = web.AppKey("sla_breaches", BreachCollector)
SHUTDOWN_STEP_S = 5.0

# Room for the web form's attachments; each route enforces its own, smaller limit.
FORM_OVERHEAD = 256 * 1024


async def hook(request: web.Request, name: str = "") -> web.StreamResponse:
    name = name or request.match_info["channel"]
    channel = request.app[K.CHANNELS].get(name)
    if channel is None:
        raise NotFound("no such channel")
    settings = request.app[K.SETTINGS]
    req = await to_inbound(request, settings.server.max_body_bytes, settings.server.public_base_url)
    received = await channel.receive(req)
    pipeline = request.app[K.PIPELINE]
    if len(received.messages) == 1:  # the common case: no gather, no extra task
        results = [await pipeline.accept(received.messages[0], req.raw_body)]
    else:
        results = list(await asyncio.gather(*(pipeline.accept(m, req.raw_body) for m in received.messages)))
    return to_response(channel.acknowledge(req, received, results))


async def slack_hook(request: web.Request) -> web.StreamResponse:
    """Slack's three endpoints: the channel hands each to bolt, commits what it collected, then answers."""
    channel = request.app[K.CHANNELS].get("slack")
    if not isinstance(channel, SlackChannel):
        raise NotFound("the slack channel is not configured")
    settings = request.app[K.SETTINGS]
    req = await to_inbound(request, settings.server.max_body_bytes, settings.server.public_base_url)
    return to_response(await channel.handle(req, request.app[K.PIPELINE], request.app[K.REDIS]))


def named_hook(name: str) -> Handler:
    """The generic webhook handler for one channel, for a provider's own path (/hooks/twilio/sms)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return await hook(request, name)

    return handler


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


def _durability(settings: Settings) -> Durability:
    client = sync_client(settings)
    try:
        return check_durability(client)
    finally:
        client.close()


async def _background(app: web.Application) -> AsyncIterator[None]:
    committer = app[K.COMMITTER]
    settings = app[K.SETTINGS]
    loop = asyncio.get_running_loop()
    try:
        durability = await loop.run_in_executor(None, _durability, app[K.SETTINGS])
        announce_durability(durability)
    except Exception as exc:
        log.warning("redis not reachable at start: accepting into the local spool", extra={"error": type(exc).__name__})
    tasks = [asyncio.create_task(committer.run()), asyncio.create_task(committer.drain_forever())]
    router = app[RUNTIME].pipeline.router
    tasks.append(asyncio.create_task(refresh_forever(router, app[K.REDIS], settings.routing.reload_interval_s)))
    yield
    # Shutdown is bounded: a process that is told to stop must stop, whatever Redis is doing.
    for t in tasks:
        t.cancel()
    _, stuck = await asyncio.wait(tasks, timeout=SHUTDOWN_STEP_S)
    if stuck:
        log.warning("background tasks did not stop in time", extra={"count": len(stuck)})
    try:
        await asyncio.wait_for(app[RUNTIME].close(), SHUTDOWN_STEP_S)
    except TimeoutError:
        log.warning("closing the Redis connections timed out")


def create_app(settings: Settings, clock: Clock | None = None) -> web.Application:
    quiet_access_log()  # whatever runner serves the app, status links must not reach a log
    settings.data_path.mkdir(parents=True, exist_ok=True)
    limit = max(settings.server.max_body_bytes, settings.channels.webform.max_attachment_bytes + FORM_OVERHEAD)
    app = web.Application(middlewares=[error_middleware], client_max_size=limit)
    blobs = BlobStore(settings.path_in_data("blobs"))
    rt = build_runtime(settings, "spool.sqlite3")
    app[RUNTIME] = rt
    app[CLOCK] = clock or SystemClock()
    app[BREACHES] = BreachCollector()
    rt.metrics.registry.register(app[BREACHES])
    app[K.SETTINGS] = settings
    app[K.METRICS] = rt.metrics
    app[K.BLOBS] = blobs
    app[K.REDIS] = rt.redis
    app[K.COMMITTER] = rt.committer
    app[K.CHANNELS] = enabled_channels(settings, blobs)
    app[K.PIPELINE] = rt.pipeline
    app[K.TEMPLATES] = page_env()
    app[K.SIGNING_KEY] = settings.signing_key()
    app.cleanup_ctx.append(_background)
    for name in app[K.CHANNELS]:
        # A plain route per enabled channel is one dictionary look-up; the pattern below still answers the rest.
        app.router.add_post(f"/hooks/{name}", named_hook(name))
    app.router.add_post("/hooks/{channel}", hook)
    for slack_path in ("/hooks/slack/events", "/hooks/slack/commands", "/hooks/slack/interactive"):
        app.router.add_post(slack_path, slack_hook)
    if settings.channels.twilio.enabled:
        add_twilio_routes(app, sms=named_hook("sms"), voice_recording=named_hook("voice"))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)
    add_page_routes(app)
    return app
