"""Helpers for the Redmine tests: a gateway configured for the test Redmine, requests by hand, polling by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway import keys
from gateway.ids import new_id
from gateway.models import Commitment, InboundMessage, Requester, Route
from gateway.settings import Settings
from tests.channels.twilio_support import PUBLIC, twilio_settings
from tests.redmine_fixtures import redmine_section
from tests.support.gateway import write_config
from tests.support.redis_server import RedisServer
from tests.support.redmine import RedmineServer
from tests.support.twilio_api import TwilioStandIn
from workers import context
from workers.backends.redmine import RedmineBackend
from workers.status_events import publish_status_event


def redmine_config(
    tmp_path: Path,
    redis_server: RedisServer,
    redmine: RedmineServer,
    standin: TwilioStandIn | None = None,
    **section: Any,
) -> Path:
    """A gateway whose requests go to the test Redmine (and whose texts go through the Twilio stand-in)."""
    channels = {"twilio": twilio_settings(standin)} if standin is not None else {}
    return write_config(
        tmp_path,
        redis_server.url,
        server={"public_base_url": PUBLIC},
        channels=channels,
        backends={"default": "redmine", "redmine": redmine_section(redmine, **section)},
    )


def request_ids(redis_server: RedisServer) -> list[str]:
    """Every request the gateway committed, oldest first (ids sort by time)."""
    prefix = keys.request("")
    return sorted(k.decode().removeprefix(prefix) for k in redis_server.client().scan_iter(prefix + "*"))


def ticket_of(redis_server: RedisServer, request_id: str) -> str | None:
    ref = redis_server.client().hget(keys.request(request_id), "ticket_ref")
    return ref.decode() if ref is not None else None


def commitment(text: str = "The 7:10 bus did not come.", *, queue: str = "general", **message: Any) -> Commitment:
    """A committed request as the worker receives it, made by hand for calls straight to the backend."""
    fields: dict[str, Any] = {
        "id": new_id(),
        "channel": "sms",
        "account": "main",
        "sender": "+15552013344",
        "text": text,
        "language": "es",
        "campus": "lhs",
        "requester": Requester(display_name="Ana Pérez", phone="+15552013344", role="parent"),
    }
    fields.update(message)
    m = InboundMessage.model_validate(fields)
    return Commitment(message=m, fingerprint=m.id, conversation=m.id, route=Route(queue=queue, backend="redmine"))


def poll_and_publish(settings: Settings, checkpoint: str, ticket: str) -> tuple[list[Any], str]:
    """What the sync process does for one poll (it is not on this branch): poll Redmine, publish each event.

    Only the events of `ticket` are published: the session's Redmine holds other tests' issues too.
    """
    events, checkpoint = RedmineBackend.from_settings(settings).poll_changes(checkpoint)
    ours = [e for e in events if e.ticket_ref == ticket]
    context.configure(settings)
    for event in ours:
        publish_status_event(event)
    return ours, checkpoint
