"""GET /dashboard (supervisors and admins) and GET /dashboard/events, its server-sent events.

The page is whole when it loads (it works without JavaScript); the events then carry each section that changed,
rendered here in the watcher's language, within `dashboard.refresh_min_s` of a notice of change from any process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from functools import partial

from aiohttp import web

from gateway.dashboard.hub import Frame, Hub
from gateway.dashboard.snapshot import Snapshot, Sources
from gateway.dashboard.waits import WaitsMemo
from gateway.reports.compute import median, p90
from gateway.routing.model import RuleSet
from gateway.server import appkeys as K
from gateway.store.redis_conn import async_client
from gateway.web.insight.access import STORE, SUPERVISORS, LazyStore, language, requires, store
from gateway.web.insight.render import staff_page, words
from gateway.web.insight.strings import StaffWords

HUB = web.AppKey("dashboard_hub", Hub)
WAITS = web.AppKey("dashboard_waits", WaitsMemo)
SECTIONS = ("incoming", "tickets", "sla", "incidents", "health")
HEARTBEAT_S = 15.0


def _minutes(value: float | None) -> str:
    return "\u2013" if value is None else f"{value:.0f}"


def render_sections(app: web.Application, snap: Snapshot, lang: str) -> dict[str, str]:
    settings = app[K.SETTINGS]
    t = StaffWords(lang, settings)
    module = (
        app[K.TEMPLATES]
        .get_template("dashboard_sections.html")
        .make_module(
            {"median": median, "p90": p90, "minutes": _minutes, "response_days": settings.dashboard.response_days}
        )
    )
    return {
        "incoming": str(module.incoming(snap, t)),  # type: ignore[attr-defined]
        "tickets": str(module.tickets(snap, t, settings.dashboard.due_soon_minutes)),  # type: ignore[attr-defined]
        "sla": str(module.sla(snap, t)),  # type: ignore[attr-defined]
        "incidents": str(module.incidents(snap, t)),  # type: ignore[attr-defined]
        "health": str(module.health(snap, t)),  # type: ignore[attr-defined]
    }


@requires(*SUPERVISORS)
async def show_dashboard(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    t = words(request)
    watcher, frame = await hub.join(t.lang)
    hub.leave(watcher)
    context = {"snap": frame.snapshot, "section_names": SECTIONS, "rendered": hub.sections(frame, t.lang)}
    return staff_page(request, "dashboard.html", "dashboard", context)


def _event(frame: Frame, sections: dict[str, str], t: StaffWords) -> bytes:
    data = json.dumps({"version": frame.version, "time": t.clock(frame.snapshot.at), "sections": sections})
    return f"event: snapshot\nid: {frame.version}\ndata: {data}\n\n".encode()


@requires(*SUPERVISORS)
async def dashboard_events(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    t = StaffWords(language(request), request.app[K.SETTINGS])
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    watcher, frame = await hub.join(t.lang)
    try:
        await response.write(b"retry: 2000\n\n" + _event(frame, hub.sections(frame, t.lang), t))
        while True:
            try:
                frame = await asyncio.wait_for(watcher.queue.get(), timeout=HEARTBEAT_S)
            except TimeoutError:
                await response.write(b": still here\n\n")  # keeps proxies from closing an idle stream
                continue
            changed = frame.changed.get(t.lang, frozenset())
            sections = {k: v for k, v in hub.sections(frame, t.lang).items() if k in changed}
            await response.write(_event(frame, sections, t))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.leave(watcher)
    return response


def _sources(app: web.Application, rules: Callable[[], RuleSet]) -> Sources:

    return Sources(
        settings=app[K.SETTINGS],
        store=store(app),
        redis=app[K.SYNC_REDIS],
        rules=rules(),
        channels=tuple(sorted(app[K.CHANNELS].keys())),
        backends=app[K.OUTSIDE_BACKENDS],
        spool_depth=app[K.COMMITTER].spool.depth,
        memo=app[WAITS],
    )


async def _running(app: web.Application) -> AsyncIterator[None]:
    hub = app[HUB]
    client = async_client(app[K.SETTINGS])
    listen = async_client(app[K.SETTINGS])
    tasks = [
        asyncio.create_task(hub.run()),
        asyncio.create_task(hub.publish_incoming(client)),
        asyncio.create_task(hub.listen(listen)),
    ]
    yield
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks, timeout=5)
    for c in (client, listen):
        with contextlib.suppress(Exception):
            await c.aclose()
    app[STORE].close()


def add_dashboard(
    app: web.Application, rules: Callable[[], RuleSet], now: Callable[[], datetime] | None = None
) -> None:
    conf = app[K.SETTINGS].dashboard
    hub = Hub(
        partial(_sources, app, rules),
        partial(render_sections, app),
        conf.refresh_min_s,
        conf.refresh_max_s,
        now or (lambda: datetime.now(UTC)),
    )
    app[HUB] = hub
    app[WAITS] = WaitsMemo()
    app[STORE] = LazyStore(app[K.SETTINGS])
    app[K.COMMITTER].on_commit = hub.incoming_committed
    app.cleanup_ctx.append(_running)
    app.router.add_get("/dashboard", show_dashboard)
    app.router.add_get("/dashboard/events", dashboard_events)
