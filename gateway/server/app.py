"""The aiohttp application: routes from the registries, typed state, and the background tasks of a web process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from channels import enabled_channels
from channels.base import HookContext
from gateway.clock import Clock, SystemClock
from gateway.intake.runtime import Runtime, build_runtime
from gateway.logs import quiet_access_log
from gateway.outbox.templating import page_env
from gateway.routing.router import refresh_forever
from gateway.routing.sla import BreachCollector, sweep_forever
from gateway.server import appkeys as K
from gateway.server.health import BREACHES, CLOCK, add_health_routes
from gateway.server.hooks import add_hook_routes
from gateway.server.http import error_middleware
from gateway.settings import Settings
from gateway.store.blob_stores import open_blobs
from gateway.store.redis_conn import Durability, announce_durability, check_durability, sync_client
from gateway.web.desk.routes import add_desk_routes
from gateway.web.form import form_body_limit
from gateway.web.insight.assets import PREFIX as INSIGHT_ASSETS
from gateway.web.insight.assets import serve as serve_insight_asset
from gateway.web.insight.dashboard import add_dashboard
from gateway.web.insight.reports import add_reports
from gateway.web.limits import Limits
from gateway.web.pages import add_page_routes
from gateway.web.staff import STAFF, StaffServices, add_staff_routes, staff_middleware
from workers.backends import enabled_backends

log = logging.getLogger("intake.app")

RUNTIME = web.AppKey("runtime", Runtime)
SHUTDOWN_STEP_S = 5.0


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
    # Here, not in /metrics: a scrape only reads, and each web process sweeping counts a clock once all the same.
    interval = settings.routing.sla_sweep_interval_s
    tasks.append(asyncio.create_task(sweep_forever(app[K.REDIS], app[CLOCK].now, interval)))
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
    app[K.SYNC_REDIS].close()


def create_app(settings: Settings, clock: Clock | None = None) -> web.Application:
    quiet_access_log()  # whatever runner serves the app, status links must not reach a log
    settings.data_path.mkdir(parents=True, exist_ok=True)
    # Every route reads its body under its own, smaller limit (server/http.py, web/form_upload.py).
    app = web.Application(middlewares=[error_middleware, staff_middleware], client_max_size=form_body_limit(settings))
    blobs = open_blobs(settings)
    rt = build_runtime(settings, "spool.sqlite3")
    app[RUNTIME] = rt
    app[CLOCK] = clock or SystemClock()
    app[BREACHES] = BreachCollector()
    rt.metrics.registry.register(app[BREACHES])
    app[K.SETTINGS] = settings
    app[K.METRICS] = rt.metrics
    app[K.BLOBS] = blobs
    app[K.REDIS] = rt.redis
    app[K.SYNC_REDIS] = sync_client(settings)
    app[K.COMMITTER] = rt.committer
    app[K.CHANNELS] = enabled_channels(settings, blobs)
    app[K.LIMITS] = Limits(settings, rt.redis)
    app[K.HOOK] = HookContext(redis=rt.redis, limits=app[K.LIMITS])
    app[K.BACKEND_HOOKS] = {
        name: cls.from_settings(settings)
        for name, cls in enabled_backends(settings).items()
        if "webhook" in cls.status_source
    }
    app[K.OUTSIDE_BACKENDS] = tuple(name for name, cls in enabled_backends(settings).items() if cls.remote)
    app[K.PIPELINE] = rt.pipeline
    app[K.TEMPLATES] = page_env()
    app[K.SIGNING_KEY] = settings.signing_key()
    app[STAFF] = StaffServices(settings, app[K.SIGNING_KEY], rt.redis, app[CLOCK])
    app.cleanup_ctx.append(_background)
    add_hook_routes(app)
    add_health_routes(app)
    add_page_routes(app)
    # The dashboard and the reports: the built-in store and Redis, read for supervisors (gateway/dashboard/).
    add_dashboard(app, lambda: rt.pipeline.router.rules, app[CLOCK].now)
    add_reports(app, lambda: rt.pipeline.router.rules)
    app.router.add_get(INSIGHT_ASSETS + "{name}", serve_insight_asset)
    add_staff_routes(app)
    add_desk_routes(app)
    return app
