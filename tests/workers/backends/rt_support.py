"""Helpers for the tests that run the gateway against the real RT (tests/support/rt.py)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from gateway import keys
from gateway.models import StatusEvent
from gateway.settings import Settings
from tests.channels.twilio_support import PUBLIC, twilio_settings
from tests.support.gateway import write_config
from tests.support.redis_server import RedisServer
from tests.support.rt import RequestTracker
from tests.support.twilio_api import TwilioStandIn
from workers import context
from workers.backends.rt import RtBackend
from workers.status_events import publish_status_event


def rt_section(rt: RequestTracker, url: str | None = None, **extra: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "url": url or rt.url,
        "token": rt.token,
        "queue": "General",
        "map": {"queue": {"transportation": "Transportation"}, "custom_fields": {"school": "School"}},
    }
    conf.update(extra)
    return conf


def rt_config(tmp_path: Path, redis_server: RedisServer, rt: RequestTracker, standin: TwilioStandIn | None = None,
              url: str | None = None, **extra: Any) -> Path:  # fmt: skip
    overrides: dict[str, Any] = {"backends": {"default": "rt", "rt": rt_section(rt, url, **extra)}}
    if standin is not None:
        overrides["server"] = {"public_base_url": PUBLIC}
        overrides["channels"] = {"twilio": twilio_settings(standin)}
    return write_config(tmp_path, redis_server.url, **overrides)


def new_phone() -> str:
    return "+1555" + str(secrets.randbelow(9_000_000) + 1_000_000)


def request_ids(redis_server: RedisServer) -> list[str]:
    r = redis_server.client()
    return sorted(k.decode().removeprefix(keys.request("")) for k in r.scan_iter(keys.request("*")))


def ticket_ref(redis_server: RedisServer, request_id: str) -> str:
    ref = redis_server.client().hget(keys.request(request_id), "ticket_ref")
    assert ref is not None, "the worker recorded no ticket for the request"
    return ref.decode()


def poll_and_publish(settings: Settings, backend: RtBackend, checkpoint: str) -> tuple[list[StatusEvent], str]:
    """What the sync process does: RT's changes since the checkpoint, published as status events."""
    events, checkpoint = backend.poll_changes(checkpoint)
    context.configure(settings)
    for event in events:
        publish_status_event(event)
    return events, checkpoint
