"""Request Tracker 5, for real: texts and forms become RT tickets, follow-ups their correspondence, and staff
answers and resolutions in RT come back to the family on their own channel, in their language.

RT is Debian's request-tracker5 on SQLite (tests/support/rt.py), shared by the tests of one process; each
test reads back only the tickets of its own requests. To step through RT's changes, these
tests call the backend's `poll_changes` and publish its events with `publish_status_event`, as the
`intake sync` poller does; test_rt_sync.py runs the poller itself, started by `intake up`.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway import keys
from gateway.models import Commitment, InboundMessage, Requester, Route, TicketStatus
from gateway.settings import Settings
from gateway.web.status_links import make_token
from tests.channels.twilio_support import (
    SPANISH,
    sms_gateway,
    text_in,
    texts,
    work,
)
from tests.conftest import form, start_gateway
from tests.support.gateway import intake, settings_from, start_worker
from tests.support.redis_server import RedisServer
from tests.support.rt import TAGS_FIELD, RequestTracker
from tests.support.rt_holding_proxy import HoldingProxy
from tests.support.twilio_api import TwilioStandIn
from tests.workers.backends.rt_support import new_phone, poll_and_publish, request_ids, rt_config, ticket_ref
from workers.backends.errors import BackendRefused
from workers.backends.rt import RtBackend, mark


def commitment(key: str, text: str, *, phone: str | None = None, queue: str = "transportation") -> Commitment:
    message = InboundMessage(id=key, channel="sms", account="lhs-es", sender=phone or new_phone(), text=text,
                             requester=Requester(phone=phone), campus="lhs")  # fmt: skip
    return Commitment(message=message, fingerprint=key, conversation=key, route=Route(backend="rt", queue=queue))


async def test_a_text_becomes_an_rt_ticket_in_the_mapped_queue_for_the_parent_known_by_phone(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn, rt_server: RequestTracker
) -> None:
    config = rt_config(tmp_path, redis_server, rt_server, standin)
    phone = new_phone()
    async with sms_gateway(config) as gw:
        await text_in(gw, "El autobús 12 no pasó hoy", To=SPANISH, From=phone)
    work(config)
    [rid] = request_ids(redis_server)
    [ticket] = rt_server.tickets_for(rid)
    assert ticket["Queue"]["Name"] == "Transportation"
    assert [r["id"] for r in ticket["Requestor"]] == [phone]  # an RT user named by the number, with no email
    fields = {cf["name"]: cf["values"] for cf in ticket["CustomFields"]}
    assert fields["School"] == ["lhs"] and fields["Intake Request"] == [rid]
    assert ticket["Subject"] == "El autobús 12 no pasó hoy" and int(ticket["Priority"]) == 50
    assert rt_server.request("GET", f"user/{phone.replace('+', '%2B')}")["EmailAddress"] in ("", None)
    assert ticket_ref(redis_server, rid) == str(ticket["id"])
    [ack] = texts(standin)
    assert ack["To"] == phone and ack["Body"].startswith(f"Recibimos su mensaje: solicitud #{ticket['id']}")


async def test_a_follow_up_text_becomes_one_correspondence_on_the_same_ticket(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn, rt_server: RequestTracker
) -> None:
    config = rt_config(tmp_path, redis_server, rt_server, standin)
    phone = new_phone()
    async with sms_gateway(config) as gw:
        await text_in(gw, "El autobús 12 no pasó hoy", To=SPANISH, From=phone)
        work(config)
        await text_in(gw, "Ya llegó, con 40 minutos de retraso", To=SPANISH, From=phone)
    work(config)
    first, follow_up = request_ids(redis_server)
    [ticket] = rt_server.tickets_for(first)
    assert rt_server.tickets_for(follow_up) == []
    messages = rt_server.messages(ticket["id"])
    assert [(kind, text) for kind, _, text in messages][1:] == [("Correspond", "Ya llegó, con 40 minutos de retraso")]
    assert mark(follow_up) in messages[1][1]

    # The job run again (a worker died after RT took it): RT finds our mark and nothing is added twice.
    backend = RtBackend.from_settings(settings_from(config))
    again = commitment(follow_up, "Ya llegó, con 40 minutos de retraso", phone=phone)
    backend.add_comment(str(ticket["id"]), again, idempotency_key=follow_up)
    assert len(rt_server.messages(ticket["id"])) == len(messages)


@dataclass(frozen=True)
class Texted:
    """A family's text made into an RT ticket, with what the tests read RT's changes with."""

    config: Path
    settings: Settings
    backend: RtBackend
    checkpoint: str  # RT's changes before the text are not news
    phone: str
    ticket: str


async def texted_into_rt(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn, rt_server: RequestTracker
) -> Texted:
    config = rt_config(tmp_path, redis_server, rt_server, standin)
    settings = settings_from(config)
    backend = RtBackend.from_settings(settings)
    _, checkpoint = backend.poll_changes("")
    phone = new_phone()
    async with sms_gateway(config) as gw:
        await text_in(gw, "El autobús 12 no pasó hoy", To=SPANISH, From=phone)
    work(config)
    [rid] = request_ids(redis_server)
    return Texted(config, settings, backend, checkpoint, phone, ticket_ref(redis_server, rid))


async def test_a_staff_answer_in_rt_reaches_the_family_by_text_in_spanish_and_internal_notes_never_do(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn, rt_server: RequestTracker
) -> None:
    t = await texted_into_rt(tmp_path, redis_server, standin, rt_server)

    rt_server.note(t.ticket, "Internal: the driver called in sick")
    rt_server.answer(t.ticket, "Mañana pasará a las 7:30.")
    events, checkpoint = poll_and_publish(t.settings, t.backend, t.checkpoint)
    mine = [e for e in events if e.ticket_ref == t.ticket]
    # RT opens the ticket as staff answer it: one message with the answer and the new status.
    assert [(e.status, e.public_comment) for e in mine] == [(TicketStatus.OPEN, "Mañana pasará a las 7:30.")]
    work(t.config)
    sent = [m["Body"] for m in texts(standin) if m["To"] == t.phone]
    assert sent[-1] == f"Solicitud #{t.ticket}: abierta. Mañana pasará a las 7:30."
    assert not any("sick" in body for body in sent)

    again, _ = poll_and_publish(t.settings, t.backend, checkpoint)
    assert [e for e in again if e.ticket_ref == t.ticket] == []  # nothing new: nothing told twice
    work(t.config)
    assert len([m for m in texts(standin) if m["To"] == t.phone]) == len(sent)


async def test_a_ticket_reopened_in_rt_gets_its_restarted_resolution_clock_in_rts_due_field(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn, rt_server: RequestTracker
) -> None:
    t = await texted_into_rt(tmp_path, redis_server, standin, rt_server)
    r = redis_server.client()
    # Staff once moved the due date by hand; the reopening's clock replaces it (and out of business hours the first
    # clock and the reopened one can fall due at the same time).
    rt_server.request("PUT", f"ticket/{t.ticket}", {"Due": "2030-01-01 00:00:00"}, token=rt_server.staff_token)
    assert rt_server.request("GET", f"ticket/{t.ticket}")["Due"] == "2030-01-01T00:00:00Z"

    rt_server.set_status(t.ticket, "resolved")
    _, checkpoint = poll_and_publish(t.settings, t.backend, t.checkpoint)
    work(t.config)
    assert r.zcard(keys.SLA_DUE) == 0  # resolved: every clock stopped
    rt_server.set_status(t.ticket, "open")  # the family wrote back, or staff were wrong
    events, checkpoint = poll_and_publish(t.settings, t.backend, checkpoint)
    assert [e.status for e in events if e.ticket_ref == t.ticket] == [TicketStatus.OPEN]
    work(t.config)
    [(member, due)] = r.zrange(keys.SLA_DUE, 0, -1, withscores=True)
    assert member.decode().startswith("resolution|")
    # RT shows staff the clock the gateway runs again, from the reopening, in its own Due field.
    assert (
        rt_server.request("GET", f"ticket/{t.ticket}")["Due"]
        == f"{datetime.fromtimestamp(due, UTC):%Y-%m-%dT%H:%M:%SZ}"
    )
    again, _ = poll_and_publish(t.settings, t.backend, checkpoint)
    assert [e for e in again if e.ticket_ref == t.ticket] == []  # our own change of Due is no news to the family


async def test_staff_resolving_in_rt_shows_on_the_status_page_and_the_form_files_are_on_the_ticket(
    tmp_path: Path, redis_server: RedisServer, rt_server: RequestTracker
) -> None:
    config = rt_config(tmp_path, redis_server, rt_server)
    settings = settings_from(config)
    backend = RtBackend.from_settings(settings)
    _, checkpoint = backend.poll_changes("")
    photo = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    attachment = {"filename": "bus-stop.png", "content_type": "image/png",
                  "data_base64": base64.b64encode(photo).decode()}  # fmt: skip
    server, http = await start_gateway(settings)
    try:
        from tests.conftest import Gateway

        gw = Gateway(server, http, settings)
        resp = await gw.post_form(form(language="en", attachments=[attachment]))
        assert resp.status == 202
        rid = (await resp.json())["request_id"]
        work(config)
        [ticket] = rt_server.tickets_for(rid)
        assert [r["id"] for r in ticket["Requestor"]] == ["ana.perez@example.org"]
        files = rt_server.request("GET", f"ticket/{ticket['id']}/attachments?fields=Filename,ContentType")["items"]
        assert [(f["Filename"], f["ContentType"]) for f in files if f.get("Filename")] == [
            ("bus-stop.png", "image/png")
        ]

        rt_server.set_status(ticket["id"], "resolved")
        events, _ = poll_and_publish(settings, backend, checkpoint)
        assert [(e.status, e.public_comment) for e in events if e.ticket_ref == str(ticket["id"])] == [
            (TicketStatus.RESOLVED, None)
        ]
        work(config)
        page = await http.get(gw.base + f"/status/{make_token(settings.signing_key(), rid)}")
        assert page.status == 200
        assert 'data-status="resolved"' in await page.text()
    finally:
        await http.close()
        await server.close()


async def test_a_worker_killed_between_rts_201_and_our_record_still_makes_exactly_one_ticket(
    tmp_path: Path, redis_server: RedisServer, rt_server: RequestTracker
) -> None:
    proxy = HoldingProxy(rt_server.url).start()
    try:
        config = rt_config(tmp_path, redis_server, rt_server, url=proxy.url)
        settings = settings_from(config)
        server, http = await start_gateway(settings)
        try:
            from tests.conftest import Gateway

            resp = await Gateway(server, http, settings).post_form(form(message="The bus never came."))
            rid = (await resp.json())["request_id"]
        finally:
            await http.close()
            await server.close()
        proxy.hold = ("POST", r"/REST/2\.0/ticket/?")
        worker = start_worker(config, tmp_path / "worker.log")
        try:
            assert proxy.held.wait(120), "the worker never created the ticket"
            assert len(rt_server.tickets_for(rid)) == 1  # RT made it; the worker has not heard back
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(30)
        assert redis_server.client().hget(keys.request(rid), "ticket_ref") is None

        # The job again, after the kill. The dead worker's hold on the conversation (workers/deliver.py) lasts
        # until it expires (60 s), so this run waits for it first.
        again = intake(config, "worker", "--burst", timeout=400)
        assert again.returncode == 0, again.stderr[-2000:]
        [ticket] = rt_server.tickets_for(rid)
        assert ticket_ref(redis_server, rid) == str(ticket["id"])
        creates = [f for f in proxy.forwarded if f[0] == "POST" and f[1].rstrip("/").endswith("/ticket")]
        assert len(creates) == 1
    finally:
        proxy.stop()


def test_an_unknown_queue_is_refused_with_rts_own_message(
    tmp_path: Path, redis_server: RedisServer, rt_server: RequestTracker
) -> None:
    config = rt_config(tmp_path, redis_server, rt_server, map={"queue": {"transportation": "Buses Nobody Made"}})
    backend = RtBackend.from_settings(settings_from(config))
    with pytest.raises(BackendRefused) as refused:
        backend.create_ticket(
            commitment("01REFUSED" + secrets.token_hex(4), "bus"), idempotency_key="k-" + secrets.token_hex(6)
        )
    assert "No permission to create tickets in the queue 'Buses Nobody Made'" in refused.value.message
    assert "RT has no queue 'Buses Nobody Made'" in refused.value.message


def test_the_requests_tags_go_into_rts_tags_field_or_else_its_first_message(
    tmp_path: Path, redis_server: RedisServer, rt_server: RequestTracker
) -> None:
    made, keys_of = {}, {}
    for tags_field in (TAGS_FIELD, ""):
        backend = RtBackend.from_settings(settings_from(rt_config(tmp_path, redis_server, rt_server,
                                                                  tags_field=tags_field)))  # fmt: skip
        c = commitment("01TAGS" + secrets.token_hex(4), "El autobús 12 no pasó hoy")
        c = c.model_copy(update={"route": c.route.model_copy(update={"tags": ("sms", "lhs", "urgent-words")})})
        made[tags_field], keys_of[tags_field] = backend.create_ticket(c, idempotency_key=c.message.id), c.message.id
    [tagged] = rt_server.tickets_for(keys_of[TAGS_FIELD])
    fields = {cf["name"]: cf["values"] for cf in tagged["CustomFields"]}
    assert sorted(fields[TAGS_FIELD]) == ["lhs", "sms", "urgent-words"]
    [(_, _, first)] = [m for m in rt_server.messages(made[TAGS_FIELD]) if m[0] == "Create"]
    assert "Tags:" not in first
    [(_, _, listed)] = [m for m in rt_server.messages(made[""]) if m[0] == "Create"]
    assert listed.startswith("El autobús 12 no pasó hoy") and listed.rstrip().endswith("Tags: sms, lhs, urgent-words")
    assert RtBackend.from_settings(settings_from(rt_config(tmp_path, redis_server, rt_server,
                                                           tags_field="Etiquetas"))).check() == [
        "backends.rt: RT has no ticket custom field 'Etiquetas' that our user can see (SeeCustomField): create it "
        "(Freeform, many values), or empty backends.rt.tags_field"
    ]  # fmt: skip


def test_check_names_what_is_wrong_and_is_quiet_when_all_is_well(
    tmp_path: Path, redis_server: RedisServer, rt_server: RequestTracker
) -> None:
    good = RtBackend.from_settings(settings_from(rt_config(tmp_path, redis_server, rt_server)))
    assert good.check() == []
    missing = rt_config(tmp_path, redis_server, rt_server, queue="Helpdesk", request_field="Our Id",
                        map={"queue": {"it": "IT Help"}})  # fmt: skip
    problems = RtBackend.from_settings(settings_from(missing)).check()
    assert len(problems) == 2
    assert "RT has no queue 'Helpdesk'" in problems[0]
    assert "no ticket custom field 'Our Id'" in problems[1]
    bad = rt_config(tmp_path, redis_server, rt_server, token="1-27-" + "0" * 32)
    [problem] = RtBackend.from_settings(settings_from(bad)).check()
    assert "refused our credentials (401)" in problem


def test_incidents_statuses_and_due_dates_use_rts_own_fields(
    tmp_path: Path, redis_server: RedisServer, rt_server: RequestTracker
) -> None:
    backend = RtBackend.from_settings(settings_from(rt_config(tmp_path, redis_server, rt_server)))
    parent = backend.create_ticket(
        commitment("P" + secrets.token_hex(6), "Wi-Fi down at Lincoln"), "P-" + secrets.token_hex(6)
    )
    child = backend.create_ticket(commitment("C" + secrets.token_hex(6), "no internet"), "C-" + secrets.token_hex(6))
    backend.link_child(parent, child)
    links = rt_server.request("GET", f"ticket/{child}")["_hyperlinks"]
    assert [link["id"] for link in links if link["ref"] == "parent"] == [parent]  # RT's MemberOf

    key = "update-" + secrets.token_hex(6)
    for _ in range(2):  # an incident update retried: one comment, one status
        backend.set_status(parent, TicketStatus.WAITING, "Technicians are on site.", "intake", key)
    assert backend.fetch_status(parent) is TicketStatus.WAITING
    assert rt_server.request("GET", f"ticket/{parent}")["Status"] == "stalled"
    updates = [m for m in rt_server.messages(parent) if mark(key) in m[1]]
    assert [(kind, text) for kind, _, text in updates] == [("Correspond", "Technicians are on site.")]

    backend.set_due(child, "resolution", datetime(2027, 1, 12, 15, 30, tzinfo=UTC))
    assert rt_server.request("GET", f"ticket/{child}")["Due"] == "2027-01-12T15:30:00Z"
    backend.set_due(child, "first_response", datetime(2027, 1, 11, 9, 0, tzinfo=UTC))  # no such field in RT
    assert rt_server.request("GET", f"ticket/{child}")["Due"] == "2027-01-12T15:30:00Z"


def test_rt_switches_on_from_the_environment_alone(tmp_path: Path) -> None:
    from gateway.settings import load_settings
    from tests.support.gateway import REPO
    from workers.backends import enabled_backends, section_problems

    env = {"RT_URL": "https://rt.district.example.org/", "RT_TOKEN": "1-14-abcdef", "RT_QUEUE": "General"}
    settings = load_settings(REPO / "config" / "gateway.yaml", env=env)
    assert "rt" in enabled_backends(settings) and section_problems(settings) == []
    assert "rt" not in enabled_backends(load_settings(REPO / "config" / "gateway.yaml", env={}))
    half = load_settings(REPO / "config" / "gateway.yaml", env={"RT_URL": "https://rt.district.example.org/"})
    [problem] = section_problems(half)
    assert "key backends.rt" in problem and "RT_TOKEN" in problem


def test_check_config_and_doctor_reach_rt_and_name_a_missing_queue(
    tmp_path: Path, redis_server: RedisServer, rt_server: RequestTracker
) -> None:
    (tmp_path / "good").mkdir()
    (tmp_path / "wrong").mkdir()
    good = rt_config(tmp_path / "good", redis_server, rt_server)
    assert intake(good, "check-config").returncode == 0
    doctor = json.loads(intake(good, "doctor", "--json").stdout)
    assert {c["name"]: c["ok"] for c in doctor["checks"]}["backend rt"] is True

    wrong = rt_config(tmp_path / "wrong", redis_server, rt_server, map={"queue": {"it": "Tech Support"}})
    out = intake(wrong, "check-config")
    assert out.returncode == 2
    assert "backends.rt: RT has no queue 'Tech Support'" in out.stderr
