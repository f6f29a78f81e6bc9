"""What each hosted help desk's webhook means, read from the recorded payloads (tests/payloads/<system>/NOTES.md),
and what each one's refusals say: no web app, no Redis."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from gateway.errors import BadRequest, Unauthorized
from gateway.models import TicketStatus
from tests.support.helpdesk import PAYLOADS, payload
from workers.backends.freshdesk import client as freshdesk_client
from workers.backends.freshdesk import events as freshdesk
from workers.backends.freshdesk.settings import FreshdeskSettings
from workers.backends.http import Answer
from workers.backends.zammad import events as zammad
from workers.backends.zammad.settings import ZammadSettings
from workers.backends.zendesk import client as zendesk_client
from workers.backends.zendesk import events as zendesk
from workers.backends.zendesk.settings import ZendeskSettings

SECRET = b"hook-secret"


def raw(system: str, name: str, **changes: Any) -> bytes:
    body = payload(system, name)
    for path, value in changes.items():
        node = body
        *outer, last = path.split("__")
        for key in outer:
            node = node[key]
        node[last] = value
    return json.dumps(body, ensure_ascii=False).encode()


# --- Zammad -----------------------------------------------------------------------------------------------------


def test_a_zammad_agents_public_html_answer_becomes_the_comment_and_its_state_our_status() -> None:
    [ev] = zammad.events(raw("zammad", "webhook_agent_reply.json"), "d-1", ZammadSettings().states)
    assert (ev.ticket_ref, ev.status, ev.delivery_id, ev.actor) == ("205", TicketStatus.OPEN, "d-1", "Jordan Rivera")
    assert ev.public_comment == "Hola Rosa,\n\nEl autobús 12 pasará mañana a las 7:40."


ZAMMAD_ANSWER = "Hola Rosa,\n\nEl autobús 12 pasará mañana a las 7:40."


@pytest.mark.parametrize(
    ("name", "changes", "expected"),
    [
        ("webhook_internal_note.json", {}, (TicketStatus.OPEN, None)),
        ("webhook_state_closed.json", {}, (TicketStatus.RESOLVED, None)),
        ("webhook_agent_reply.json", {"article__sender": "Customer"}, (TicketStatus.OPEN, None)),  # the family's words
        ("webhook_agent_reply.json", {"article__body": "Sí\n\nintake-id: 01K0"}, (TicketStatus.OPEN, None)),  # ours
        ("webhook_agent_reply.json", {"ticket__state": "pending reminder"}, (TicketStatus.WAITING, ZAMMAD_ANSWER)),
        ("webhook_agent_reply.json", {"ticket__state": "a state of our own"}, (TicketStatus.OPEN, ZAMMAD_ANSWER)),
        ("webhook_agent_reply.json", {"article__content_type": "text/plain", "article__body": " Listo. "},
         (TicketStatus.OPEN, "Listo.")),
    ],
)  # fmt: skip
def test_what_a_zammad_webhook_tells_and_what_it_never_does(
    name: str, changes: dict[str, Any], expected: tuple[TicketStatus, str | None]
) -> None:
    [ev] = zammad.events(raw("zammad", name, **changes), "d-2", ZammadSettings().states)
    assert (ev.status, ev.public_comment) == expected


def zammad_signature(body: bytes, secret: bytes = SECRET) -> str:
    return "sha1=" + hmac.new(secret, body, hashlib.sha1).hexdigest()


@pytest.mark.parametrize(
    ("case", "header"),
    [("missing", None), ("wrong secret", "other"), ("sha256", "sha256"), ("no value", "sha1="), ("garbage", "x")],
)
def test_a_zammad_signature_that_is_not_the_bodys_hmac_sha1_is_refused(case: str, header: str | None) -> None:
    body = raw("zammad", "webhook_agent_reply.json")
    given = {None: None, "other": zammad_signature(body, b"guessed"), "sha256": "sha256=" + "0" * 64,
             "sha1=": "sha1=", "x": "x"}[header]  # fmt: skip
    with pytest.raises(Unauthorized):
        zammad.verify(SECRET, given, body)
    zammad.verify(SECRET, zammad_signature(body), body)  # the body's own signature passes
    with pytest.raises(Unauthorized, match="no webhook secret"):
        zammad.verify(b"", zammad_signature(body), body)


def test_a_zammad_webhook_without_its_delivery_id_or_ticket_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="X-Zammad-Delivery"):
        zammad.events(raw("zammad", "webhook_agent_reply.json"), None, {})
    with pytest.raises(BadRequest, match="ticket"):
        zammad.events(b'{"article": {}}', "d-3", {})


# --- Freshdesk --------------------------------------------------------------------------------------------------


def test_the_freshdesk_reply_rule_brings_the_answer_and_the_status_rule_only_the_status() -> None:
    statuses = FreshdeskSettings().statuses
    [reply] = freshdesk.events(raw("freshdesk", "webhook_reply.json"), statuses)
    [status] = freshdesk.events(raw("freshdesk", "webhook_status.json"), statuses)
    assert (reply.ticket_ref, reply.status, reply.actor) == ("1042", TicketStatus.OPEN, "Jordan Rivera")
    assert reply.public_comment == "El autobús 12 pasará mañana a las 7:40."
    assert (status.status, status.public_comment) == (TicketStatus.RESOLVED, None)
    again = freshdesk.events(raw("freshdesk", "webhook_reply.json"), statuses)[0]
    assert again.delivery_id == reply.delivery_id != status.delivery_id  # a change is known by what it says


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"freshdesk_webhook__ticket_status": "3"}, (TicketStatus.WAITING, "El autobús 12 pasará mañana a las 7:40.")),
        ({"freshdesk_webhook__ticket_id": 1042}, (TicketStatus.OPEN, "El autobús 12 pasará mañana a las 7:40.")),
        ({"freshdesk_webhook__ticket_latest_public_comment": "<div>Hola<br>Ya salió</div>"},
         (TicketStatus.OPEN, "Hola\nYa salió")),
        ({"freshdesk_webhook__ticket_latest_public_comment": "<p>Llegó tarde</p><p>intake-id: 01K</p>"},
         (TicketStatus.OPEN, None)),  # the family's follow-up, which we wrote: never told back
        ({"freshdesk_webhook__ticket_status": "Waiting on Customer"}, (TicketStatus.WAITING, "El autobús 12 pasará "
                                                                        "mañana a las 7:40.")),
    ],
)  # fmt: skip
def test_freshdesk_webhook_variants(changes: dict[str, Any], expected: tuple[TicketStatus, str | None]) -> None:
    [ev] = freshdesk.events(raw("freshdesk", "webhook_reply.json", **changes), FreshdeskSettings().statuses)
    assert (ev.status, ev.public_comment) == expected


def test_the_freshdesk_secret_header_is_compared_whole() -> None:
    freshdesk.verify("X-Intake-Token", SECRET, SECRET.decode())
    for given in (None, "", "hook-secre", "hook-secret-and-more"):
        with pytest.raises(Unauthorized):
            freshdesk.verify("X-Intake-Token", SECRET, given)
    with pytest.raises(Unauthorized, match="no webhook secret"):
        freshdesk.verify("X-Intake-Token", b"", "")


def test_freshdesks_refusal_reads_as_its_own_words() -> None:
    body = (PAYLOADS / "freshdesk" / "error_validation.json").read_bytes()
    said = freshdesk_client.describe(Answer(400, {}, body))
    assert said == "Validation failed: group_id: There is no group matching the given group_id (invalid_value)"
    auth = b'{"code": "invalid_credentials", "message": "You have to be logged in to perform this action."}'
    assert freshdesk_client.describe(Answer(401, {}, auth)) == "You have to be logged in to perform this action."


# --- Zendesk ----------------------------------------------------------------------------------------------------


def test_a_zendesk_staff_comment_is_the_answer_and_a_status_change_the_status() -> None:
    statuses = ZendeskSettings().statuses
    [comment] = zendesk.events(raw("zendesk", "event_comment_added.json"), statuses)
    [solved] = zendesk.events(raw("zendesk", "event_status_changed.json"), statuses)
    assert (comment.ticket_ref, comment.status, comment.actor) == ("4821", TicketStatus.OPEN, "Jordan Rivera")
    assert comment.public_comment == "El autobús 12 pasará mañana a las 7:40."
    assert comment.delivery_id == "5a0c7b1e-2f3d-4e5f-8a9b-0c1d2e3f4a5b"
    assert (solved.status, solved.public_comment) == (TicketStatus.RESOLVED, None)


@pytest.mark.parametrize(
    "changes",
    [
        {"event__comment__is_public": False},  # a private note
        {"event__comment__author": {"id": "391230000055", "is_staff": False, "name": "Rosa"}},  # the family's words
        {"event__comment__body": "Llegó tarde\n\nintake-id: 01K0"},  # ours
        {"type": "zen:event-type:ticket.priority_changed"},  # nothing the family is told
    ],
)
def test_what_zendesk_reports_that_the_family_is_never_told(changes: dict[str, Any]) -> None:
    assert zendesk.events(raw("zendesk", "event_comment_added.json", **changes), ZendeskSettings().statuses) == []


def zendesk_headers(body: bytes, at: float, secret: bytes = SECRET) -> tuple[str, str]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
    return base64.b64encode(hmac.new(secret, stamp.encode() + body, hashlib.sha256).digest()).decode(), stamp


@pytest.mark.parametrize(
    "case", ["wrong secret", "301 s ago", "301 s ahead", "no timestamp", "not a time", "body changed", "hex"]
)
def test_a_zendesk_signature_must_be_the_base64_hmac_of_timestamp_and_body_made_now(case: str) -> None:
    body = raw("zendesk", "event_status_changed.json")
    now = time.time()
    signature, stamp = zendesk_headers(body, now)
    zendesk.verify(SECRET, signature, stamp, body, 300, now=now)
    given: tuple[str | None, str | None, bytes] = (signature, stamp, body)
    if case == "wrong secret":
        given = (zendesk_headers(body, now, b"guessed")[0], stamp, body)
    elif case.startswith("301"):
        given = (*zendesk_headers(body, now + (-301 if "ago" in case else 301)), body)
    elif case == "no timestamp":
        given = (signature, None, body)
    elif case == "not a time":
        given = (signature, "yesterday", body)
    elif case == "body changed":
        given = (signature, stamp, body.replace(b"SOLVED", b"OPEN  "))
    else:
        given = (hmac.new(SECRET, stamp.encode() + body, hashlib.sha256).hexdigest(), stamp, body)
    with pytest.raises(Unauthorized):
        zendesk.verify(SECRET, given[0], given[1], given[2], 300, now=now)


def test_zendesks_refusal_reads_as_its_own_words() -> None:
    body = (PAYLOADS / "zendesk" / "error_record_invalid.json").read_bytes()
    said = zendesk_client.describe(Answer(422, {}, body))
    assert said == "RecordInvalid: Record validation errors: group: Group: is invalid"
    assert zendesk_client.describe(Answer(401, {}, b'{"error": "Couldn\'t authenticate you"}')) == (
        "Couldn't authenticate you"
    )
