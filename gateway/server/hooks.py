"""The webhook routes, built from the registries: each channel's routes, and each ticket system's events.

An intake route verifies and parses (the channel's `receive`), commits every message (the pipeline),
and only then answers the provider (the channel's `acknowledge`). A ticket system's webhook is
verified by its backend and its status changes are queued for the events worker before the 2xx.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from channels.base import Channel, HookRoute
from gateway.errors import NotFound
from gateway.server import appkeys as K
from gateway.server.http import Handler, InboundRequest, to_inbound, to_response
from gateway.store.queues import publish_status_events


async def _inbound(request: web.Request) -> InboundRequest:
    server = request.app[K.SETTINGS].server
    return await to_inbound(request, server.max_body_bytes, server.public_base_url)


def channel_handler(channel: Channel, route: HookRoute) -> Handler:
    custom = route.handler

    async def handle(request: web.Request) -> web.StreamResponse:
        req = await _inbound(request)
        hook = request.app[K.HOOK]
        if custom is not None:
            return to_response(await custom(req, hook))
        received = await channel.receive(req, hook)
        results = await request.app[K.PIPELINE].accept_received(channel.name, received, req.raw_body)
        return to_response(channel.acknowledge(req, received, results))

    return handle


async def no_such_hook(request: web.Request) -> web.StreamResponse:
    raise NotFound("no such channel")


async def backend_events(request: web.Request) -> web.StreamResponse:
    """POST /backends/<name>/events: a ticket system tells us of status changes and public answers."""
    backend = request.app[K.BACKEND_HOOKS].get(request.match_info["name"])
    if backend is None:
        raise NotFound("no such ticket system takes webhooks here")
    req = await _inbound(request)
    events = backend.webhook_events(req)
    settings = request.app[K.SETTINGS]
    # Durable before the 2xx: a system that is not answered 2xx sends again, and the job ids make that harmless.
    client = request.app[K.SYNC_REDIS]
    await asyncio.get_running_loop().run_in_executor(None, publish_status_events, client, settings, events)
    return web.json_response({"accepted": len(events)})


def add_hook_routes(app: web.Application) -> None:
    for channel in app[K.CHANNELS].values():
        for route in channel.routes():
            app.router.add_route(route.method, route.path, channel_handler(channel, route))
    app.router.add_post("/hooks/{channel:.*}", no_such_hook)
    app.router.add_post("/backends/{name}/events", backend_events)
