"""Typed application state (aiohttp AppKey), shared by the app and the page handlers."""

from __future__ import annotations

import jinja2
import redis
import redis.asyncio as aioredis
from aiohttp import web

from channels.base import Channel, HookContext
from gateway.intake.pipeline import Pipeline
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.store.blobs import BlobStore
from gateway.store.group_commit import GroupCommitter
from gateway.web.limits import Limits
from workers.backends.base import TicketBackend

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
REDIS = web.AppKey("redis", aioredis.Redis)
CHANNELS = web.AppKey("channels", dict[str, Channel])
HOOK = web.AppKey("hook", HookContext)
# The enabled ticket systems whose status comes back by webhook, by name.
BACKEND_HOOKS = web.AppKey("backend_hooks", dict[str, TicketBackend])
# The enabled ticket systems other than the built-in store: their circuits show in /readyz.
OUTSIDE_BACKENDS = web.AppKey("outside_backends", tuple[str, ...])
SYNC_REDIS = web.AppKey("sync_redis", redis.Redis)  # for the few writes made in a thread (rq enqueues)
PIPELINE = web.AppKey("pipeline", Pipeline)
COMMITTER = web.AppKey("committer", GroupCommitter)
BLOBS = web.AppKey("blobs", BlobStore)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
SIGNING_KEY = web.AppKey("signing_key", bytes)
LIMITS = web.AppKey("limits", Limits)
