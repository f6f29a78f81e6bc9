"""The aiohttp application: routes, typed state, and the background tasks that keep commits flowing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from channels import enabled_channels
from gateway import appkeys as K
from gateway.blobs import BlobStore
from gateway.commit import Committer
from gateway.conversations import ConversationResolver
from gateway.errors import NotFound
from gateway.group_commit import GroupCommitter
from gateway.http import error_middleware, to_inbound, to_response
from gateway.logs import quiet_access_log
from gateway.metrics import Metrics
from gateway.openapi import openapi_document
from gateway.pipeline import Pipeline
from gateway.redis_conn import announce_durability, async_client, check_durability, sync_client
from gateway.routing import Router
from gateway.settings import Settings
from gateway.spool import Spool
from gateway.templating import page_env
from gateway.web.pages import add_page_routes

log = logging.getLogger("intake.app")

# Room for the web form's attachments; each route enforces its own, smaller limit.
FORM_OVERHEAD = 256 * 1024


async def hook(request: web.Request) -> web.StreamResponse:
    name = request.match_info["channel"]
    channel = request.app[K.CHANNELS].get(name)
    if channel is None:
        raise NotFound("no such channel")
    settings = request.app[K.SETTINGS]
    req = await to_inbound(request, settings.server.max_body_bytes, settings.server.public_base_url)
    received = await channel.receive(req)
    pipeline = request.app[K.PIPELINE]
    results = await asyncio.gather(*(pipeline.accept(m, req.raw_body) for m in received.messages))
    return to_response(channel.acknowledge(req, received, list(results)))


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
    body = {
        "status": "ok" if redis_ok else "degraded",
        "redis": "up" if redis_ok else "down",
        "spool_depth": committer.spool.depth,
        "accepting": True,
    }
    return web.json_response(body, status=200)


async def metrics(request: web.Request) -> web.Response:
    m = request.app[K.METRICS]
    m.spool_depth.set(request.app[K.COMMITTER].spool.depth)
    return web.Response(body=generate_latest(m.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.app[K.SETTINGS]))


async def _background(app: web.Application) -> AsyncIterator[None]:
    committer = app[K.COMMITTER]
    loop = asyncio.get_running_loop()
    try:
        durability = await loop.run_in_executor(None, check_durability, committer.committer.client)
        announce_durability(durability)
    except Exception as exc:
        log.warning("redis not reachable at start: accepting into the local spool", extra={"error": type(exc).__name__})
    tasks = [asyncio.create_task(committer.run()), asyncio.create_task(committer.drain_forever())]
    yield
    for t in tasks:
        t.cancel()
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await t
    committer.close()
    committer.spool.close()
    await app[K.REDIS].aclose()
    committer.committer.client.close()


def create_app(settings: Settings) -> web.Application:
    quiet_access_log()  # whatever runner serves the app, status links must not reach a log
    settings.data_path.mkdir(parents=True, exist_ok=True)
    limit = max(settings.server.max_body_bytes, settings.channels.webform.max_attachment_bytes + FORM_OVERHEAD)
    app = web.Application(middlewares=[error_middleware], client_max_size=limit)
    metrics_ = Metrics()
    blobs = BlobStore(settings.path_in_data("blobs"))
    aredis = async_client(settings)
    group = GroupCommitter(
        Committer(sync_client(settings), settings),
        Spool(settings.path_in_data("spool.sqlite3")),
        metrics_,
        settings.server.commit_batch_max,
    )
    app[K.SETTINGS] = settings
    app[K.METRICS] = metrics_
    app[K.BLOBS] = blobs
    app[K.REDIS] = aredis
    app[K.COMMITTER] = group
    app[K.CHANNELS] = enabled_channels(settings, blobs)
    app[K.PIPELINE] = Pipeline(ConversationResolver(aredis, settings.backends.default), Router(settings), group, metrics_)
    app[K.TEMPLATES] = page_env()
    app[K.SIGNING_KEY] = settings.signing_key()
    app.cleanup_ctx.append(_background)
    app.router.add_post("/hooks/{channel}", hook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)
    add_page_routes(app)
    return app
