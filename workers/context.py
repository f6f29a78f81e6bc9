"""What a worker process builds once: settings, Redis, backends, channels, templates; jobs build the rest here."""

from __future__ import annotations

from functools import cache

import jinja2
import redis

from channels import enabled_channels
from channels.base import Channel
from gateway.outbox.templating import reply_env
from gateway.settings import Settings, load_settings
from gateway.store.redis_conn import sync_client
from workers.backends import get_backend
from workers.backends.base import TicketBackend
from workers.circuit import Circuit
from workers.routing_stage import WorkerRules
from workers.services import Services

_settings: Settings | None = None


def configure(settings: Settings) -> None:
    global _settings
    _settings = settings
    connection.cache_clear()
    backend.cache_clear()
    circuit.cache_clear()
    rules.cache_clear()
    channels.cache_clear()
    services.cache_clear()


def settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


@cache
def connection() -> redis.Redis:
    return sync_client(settings())


@cache
def backend(name: str) -> TicketBackend:
    return get_backend(name, settings())


@cache
def circuit(name: str) -> Circuit:
    """The backend's outage circuit; a probe holds its lease at most as long as a job may run."""
    s = settings()
    return Circuit(connection(), name, s.backends.outages, probe_lease_s=s.jobs.timeout_s)


@cache
def templates() -> jinja2.Environment:
    return reply_env()


@cache
def rules() -> WorkerRules:
    return WorkerRules(settings())


@cache
def services() -> Services:
    return Services(connection(), settings(), backend)


@cache
def channels() -> dict[str, Channel]:
    """The channels this worker can send on: those the settings switch on."""
    return enabled_channels(settings(), services().blobs)


def channel(name: str) -> Channel | None:
    return channels().get(name)
