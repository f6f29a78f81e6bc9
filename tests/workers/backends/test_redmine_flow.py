"""Redmine end to end, against a real Redmine: a text or a form becomes an issue, a follow-up a note, staff's public
answer in Redmine reaches the family by text in Spanish, a resolution shows on the status page, and a worker killed
between Redmine's 201 and our record still leaves exactly one issue.

Status comes back by polling: the `intake sync` process is another branch's work, so each test polls with the
backend's own `poll_changes` and publishes the events with `workers.status_events.publish_status_event`, as it will.
Texts are worked by the real `intake worker` process (the registry line is all it takes); the form's test runs the
same worker in the test process, which spares a Python start per step. (Not with texts: the Twilio client's pooled
connections would outlive the stand-in.)
"""

from __future__ import annotations

import base64
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gateway.settings import load_settings
from gateway.store.blobs import sniff
from tests.channels.twilio_support import ACCOUNT_SID, AUTH_TOKEN, PARENT, SPANISH, sms_gateway, text_in, texts, work
from tests.conftest import Gateway, form, start_gateway
from tests.redmine_fixtures import Staff, redmine_section
from tests.support.gateway import REPO, intake, settings_from, start_worker, write_config
from tests.support.holding_proxy import HoldingProxy
from tests.support.inprocess import work_here
from tests.support.redis_server import RedisServer
from tests.support.redmine import RedmineServer
from tests.support.twilio_api import TwilioStandIn
from tests.workers.backends.redmine_support import (
    poll_and_publish,
    redmine_config,
    request_ids,
    ticket_of,
)
from workers.backends.redmine import RedmineBackend

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[TwilioStandIn]:
    api = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN, tmp_path).start()
    yield api
    api.stop()


async def test_a_text_becomes_an_issue_in_the_mapped_project_naming_the_requester_and_our_request_id(
    tmp_path: Path, redis_server: RedisServer, redmine: RedmineServer, staff: Staff, standin: TwilioStandIn
) -> None:
    config = redmine_config(tmp_path, redis_server, redmine, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "El autobús 12 no pasó hoy por la parada de Elm", To=SPANISH)
    work(config)
    [rid] = request_ids(redis_server)
    [issue] = staff.issues_for(rid)
    assert (issue.project.name, issue.tracker.name, issue.priority.name) == ("Transportation", "Support", "Normal")
    assert issue.subject == "El autobús 12 no pasó hoy por la parada de Elm"
    description = issue.description.replace("\r\n", "\n")  # Redmine keeps text with CRLF line ends
    assert description == (
        f"Requester: {PARENT} (unknown)\nChannel: sms (lhs-es)\nLanguage: es\nSchool: lhs\nTags: sms, lhs\n\n"
        "El autobús 12 no pasó hoy por la parada de Elm"
    )
    facts = redmine.facts
    assert staff.field(issue, facts["requester_field"]) == PARENT
    assert staff.field(issue, facts["school_field"]) == "lhs"
    assert ticket_of(redis_server, rid) == str(issue.id)
    [ack] = texts(standin)
    assert ack["Body"].startswith(f"Recibimos su mensaje: solicitud #{issue.id}")


async def test_a_follow_up_text_becomes_one_note_on_the_same_issue(
    tmp_path: Path, redis_server: RedisServer, redmine: RedmineServer, staff: Staff, standin: TwilioStandIn
) -> None:
    config = redmine_config(tmp_path, redis_server, redmine, standin)
    async with sms_gateway(config) as gw:
        await text_in(gw, "El autobús 12 no pasó hoy", To=SPANISH)
        work(config)
        await text_in(gw, "Ya llegó, con 40 minutos de retraso", To=SPANISH)
    work(config)
    first, follow_up = request_ids(redis_server)
    [issue] = staff.issues_for(first)
    assert staff.issues_for(follow_up) == []  # a note, not a second issue
    assert staff.notes(issue.id) == [f"Ya llegó, con 40 minutos de retraso\n\nintake-id: {follow_up}"]
    assert ticket_of(redis_server, follow_up) == str(issue.id)
    assert len(texts(standin)) == 1  # the acknowledgement of the request; a follow-up is not acknowledged


async def test_staff_answering_in_redmine_reaches_the_family_by_text_in_spanish_and_private_notes_never_do(
    tmp_path: Path, redis_server: RedisServer, redmine: RedmineServer, staff: Staff, standin: TwilioStandIn
) -> None:
    config = redmine_config(tmp_path, redis_server, redmine, standin)
    settings = settings_from(config)
    async with sms_gateway(config) as gw:
        await text_in(gw, "El autobús 12 no pasó hoy por la parada de Elm", To=SPANISH)
    work(config)
    [rid] = request_ids(redis_server)
    ref = str(staff.issues_for(rid)[0].id)
    _, checkpoint = poll_and_publish(settings, "", ref)  # the poller starts: nothing before now is news

    staff.answer(ref, "El chofer está enfermo; mañana pasará a las 7:15.")
    staff.answer(ref, "Hablar con RR.HH. sobre el chofer.", private=True)
    events, checkpoint = poll_and_publish(settings, checkpoint, ref)
    assert [e.public_comment for e in events] == ["El chofer está enfermo; mañana pasará a las 7:15."]
    work(config)
    _, answer = (t["Body"] for t in texts(standin))
    assert (
        answer == f"Solicitud #{ref}, respuesta de la mesa de ayuda: El chofer está enfermo; mañana pasará a las 7:15."
    )
    assert texts(standin)[1]["To"] == PARENT and texts(standin)[1]["From"] == SPANISH

    again, _ = poll_and_publish(settings, checkpoint, ref)
    assert again == []  # read once, told once
    assert all("RR.HH." not in t["Body"] for t in texts(standin))


async def test_staff_resolving_the_issue_shows_on_the_requesters_status_page(
    tmp_path: Path, redis_server: RedisServer, redmine: RedmineServer, staff: Staff
) -> None:
    config = redmine_config(tmp_path, redis_server, redmine)
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    gw = Gateway(server, http, settings)
    try:
        photo = {"filename": "parada.png", "content_type": "image/png", "data_base64": base64.b64encode(PNG).decode()}
        resp = await gw.post_form(form(attachments=[photo]))
        assert resp.status == 202
        status_url = (await resp.json())["status_url"]
        work_here(settings)
        [rid] = request_ids(redis_server)
        ref = str(staff.issues_for(rid)[0].id)
        [attached] = staff.issue(ref).attachments
        assert (attached.filename, attached.filesize, attached.content_type) == ("parada.png", len(PNG), sniff(PNG))
        _, checkpoint = poll_and_publish(settings, "", ref)

        staff.answer(ref, "La ruta 4 vuelve a pasar a las 7:10.", status="Resolved")
        events, _ = poll_and_publish(settings, checkpoint, ref)
        assert [(e.status.value, e.public_comment) for e in events] == [
            ("resolved", "La ruta 4 vuelve a pasar a las 7:10.")
        ]
        work_here(settings)
        page = await gw.http.get(gw.base + urlsplit(status_url).path)  # status_url names the public address
        html = await page.text()
    finally:
        await http.close()
        await server.close()
    assert page.status == 200
    assert 'data-status="resolved"' in html
    assert "La ruta 4 vuelve a pasar a las 7:10." in html


async def test_a_worker_killed_between_redmines_201_and_our_record_still_makes_exactly_one_issue(
    tmp_path: Path, redis_server: RedisServer, redmine: RedmineServer, staff: Staff
) -> None:
    proxy = HoldingProxy(redmine.url, hold=("POST", "/issues.json")).start()
    try:
        section = redmine_section(redmine, url=proxy.url)
        config = write_config(tmp_path, redis_server.url, backends={"default": "redmine", "redmine": section})
        server, http = await start_gateway(settings_from(config))
        try:
            assert (await Gateway(server, http, settings_from(config)).post_form(form())).status == 202
        finally:
            await http.close()
            await server.close()
        [rid] = request_ids(redis_server)
        proxy.holding.set()
        worker = start_worker(config, tmp_path / "worker.log")
        try:
            assert proxy.held.acquire(timeout=120), "the worker never asked Redmine for the issue"
            assert len(staff.issues_for(rid)) == 1  # Redmine made it and answered 201; the worker never heard
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
        assert ticket_of(redis_server, rid) is None  # nothing recorded on our side
        proxy.holding.clear()

        result = intake(config, "worker", "--burst", timeout=170)
        assert result.returncode == 0, result.stderr[-2000:]
    finally:
        proxy.stop()
    [issue] = staff.issues_for(rid)
    assert ticket_of(redis_server, rid) == str(issue.id)
    searched = f"cf_{redmine.facts['request_field']}={rid}"
    assert [m for m, path in proxy.seen if path.startswith("/issues.json?") and searched in path] == ["GET", "GET"]


def test_the_backend_switches_on_from_the_environment_alone() -> None:
    shipped = REPO / "config" / "gateway.yaml"
    env = {"REDMINE_URL": "https://redmine.district.example.org", "REDMINE_API_KEY": "k" * 40,
           "REDMINE_PROJECT": "helpdesk"}  # fmt: skip
    assert RedmineBackend.enabled(load_settings(shipped, env=env))
    for missing in env:
        assert not RedmineBackend.enabled(load_settings(shipped, env={k: v for k, v in env.items() if k != missing}))


def test_a_bad_redmine_section_stops_the_gateway_naming_the_file_the_key_and_the_fix(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = write_config(tmp_path, redis_server.url, backends={"redmine": {"url": "redmine.district.example.org",
                                                                            "statuses": {"resolved": []}}})  # fmt: skip
    out = intake(config, "check-config")
    assert out.returncode == 2
    assert f"{config}: key backends.redmine.url: Value error, expected the Redmine URL, starting with https://" in (
        out.stderr
    )
    assert f"{config}: key backends.redmine.statuses.resolved" in out.stderr
