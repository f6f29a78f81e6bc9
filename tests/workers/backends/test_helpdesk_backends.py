"""The protocol's promises, kept by each hosted help desk's backend against its stand-in: one ticket per request id,
one message per key, incidents linked with the system's own relation, an incident's status set once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.ids import new_id
from gateway.models import Commitment, InboundMessage, Requester, Route, TicketStatus
from tests.support.freshdesk_api import FreshdeskStandIn
from tests.support.gateway import settings_from
from tests.support.helpdesk import HelpDesk
from tests.support.redis_server import RedisServer
from tests.support.zammad_api import ZammadStandIn
from tests.support.zendesk_api import ZendeskStandIn
from tests.workers.backends.helpdesk_support import (
    FRESHDESK_KEY,
    HOOK_SECRET,
    ZAMMAD_TOKEN,
    ZENDESK_EMAIL,
    ZENDESK_TOKEN,
    helpdesk_config,
)
from workers.backends import BACKENDS
from workers.backends.base import TicketBackend


@pytest.fixture(params=["zammad", "freshdesk", "zendesk"])
def desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HelpDesk]:
    made: HelpDesk = {
        "zammad": lambda: ZammadStandIn(ZAMMAD_TOKEN, HOOK_SECRET, tmp_path),
        "freshdesk": lambda: FreshdeskStandIn(FRESHDESK_KEY, HOOK_SECRET, tmp_path),
        "zendesk": lambda: ZendeskStandIn(ZENDESK_EMAIL, ZENDESK_TOKEN, HOOK_SECRET, tmp_path),
    }[request.param]()
    made.start()
    yield made
    made.stop()


@pytest.fixture
def backend(tmp_path: Path, redis_server: RedisServer, desk: HelpDesk) -> TicketBackend:
    settings = settings_from(helpdesk_config(tmp_path, redis_server, desk))
    return BACKENDS[desk.name].from_settings(settings)


def commitment(text: str, **message: Any) -> Commitment:
    who = Requester(display_name="Ana Pérez", phone="+15552013344", role="parent")
    fields: dict[str, Any] = {"id": new_id(), "channel": "sms", "account": "main", "sender": "+15552013344",
                              "text": text, "language": "es", "campus": "lhs", "requester": who}  # fmt: skip
    m = InboundMessage.model_validate({**fields, **message})
    return Commitment(message=m, fingerprint=m.id, conversation=m.id, route=Route(queue="transportation"))


def messages(desk: HelpDesk, ref: str) -> list[str]:
    """Every message on the ticket as its system keeps it (the first one included)."""
    if isinstance(desk, ZammadStandIn):
        return [a["body"] for a in desk.ticket(ref).articles]
    if isinstance(desk, FreshdeskStandIn):
        return [desk.ticket(ref).data["description"], *(c["body_text"] for c in desk.ticket(ref).conversations)]
    assert isinstance(desk, ZendeskStandIn)
    return [c["body"] for c in desk.ticket(ref).comments]


def private(desk: HelpDesk, ref: str) -> list[bool]:
    if isinstance(desk, ZammadStandIn):
        return [a["internal"] for a in desk.ticket(ref).articles[1:]]
    if isinstance(desk, FreshdeskStandIn):
        return [c["private"] for c in desk.ticket(ref).conversations]
    assert isinstance(desk, ZendeskStandIn)
    return [not c["public"] for c in desk.ticket(ref).comments[1:]]


def test_a_create_retried_with_the_same_request_id_makes_no_second_ticket(
    backend: TicketBackend, desk: HelpDesk
) -> None:
    c = commitment("El autobús 12 no pasó hoy")
    ref = backend.create_ticket(c, c.message.id)
    assert backend.create_ticket(c, c.message.id) == ref
    assert len(desk.all_tickets()) == 1


def test_a_follow_up_and_a_note_are_each_added_once_however_often_they_are_sent(
    backend: TicketBackend, desk: HelpDesk
) -> None:
    c = commitment("El autobús 12 no pasó hoy")
    ref = backend.create_ticket(c, c.message.id)
    follow_up, note = commitment("Llegó 40 minutos tarde"), commitment("Called the depot")
    for _ in range(2):
        backend.add_comment(ref, follow_up, follow_up.message.id)
        backend.add_comment(ref, note, note.message.id, public=False)
    said = messages(desk, ref)
    assert [m.split("\n")[0] for m in said[1:]] == ["Llegó 40 minutos tarde", "Called the depot"]
    assert private(desk, ref) == [False, True]


def test_a_request_is_linked_under_its_incidents_parent_with_the_systems_own_relation(
    backend: TicketBackend, desk: HelpDesk
) -> None:
    parent_c, child_c = commitment("No buses at Lincoln today"), commitment("Bus 12 did not come")
    parent, child = (
        backend.create_ticket(parent_c, parent_c.message.id),
        backend.create_ticket(child_c, child_c.message.id),
    )
    backend.link_child(parent, child)
    backend.link_child(parent, child)  # a retried job
    if isinstance(desk, ZammadStandIn):
        assert desk.ticket(child).links == [int(parent)]
        [add] = desk.calls("POST", "/api/v1/links/add")
        assert add.json()["link_type"] == "child" and add.json()["link_object_target_value"] == int(parent)
    elif isinstance(desk, FreshdeskStandIn):
        assert desk.ticket(child).data["parent_id"] == int(parent)
    else:
        assert isinstance(desk, ZendeskStandIn)
        assert desk.ticket(parent).data["type"] == "problem"
        assert (desk.ticket(child).data["type"], desk.ticket(child).data["problem_id"]) == ("incident", int(parent))


def test_an_incidents_status_change_is_made_once_with_its_comment(backend: TicketBackend, desk: HelpDesk) -> None:
    c = commitment("No buses at Lincoln today")
    ref = backend.create_ticket(c, c.message.id)
    for _ in range(2):
        backend.set_status(ref, TicketStatus.RESOLVED, "Route 4 is back.", "ops", "incident-1-update-3")
    assert len([m for m in messages(desk, ref) if m.startswith("Route 4 is back.")]) == 1
    assert backend.fetch_status(ref) is TicketStatus.RESOLVED
