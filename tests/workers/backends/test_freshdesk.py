"""Freshdesk end to end, against its local stand-in (tests/support/freshdesk_api.py): the web app, real worker
processes, texts through the Twilio stand-in, agents answering through the automation rules' webhooks, and the
account's allowance kept by eight workers at once."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from gateway.settings import load_settings
from tests.channels.twilio_support import PARENT, SPANISH, sms_gateway, text_in, texts, work
from tests.conftest import Gateway, form, start_gateway
from tests.support.freshdesk_api import GROUPS, FreshdeskStandIn
from tests.support.gateway import REPO, intake, settings_from, start_worker
from tests.support.helpdesk import Scripted
from tests.support.redis_server import RedisServer
from tests.support.twilio_api import TwilioStandIn
from tests.workers.backends.helpdesk_support import (
    HOOK_SECRET,
    event_jobs,
    helpdesk_config,
    point_at,
    request_ids,
    status_page,
    ticket_of,
)
from tests.workers.backends.test_delivery_faults import running_worker
from tests.workers.backends.webhook_support import wait_until
from workers.backends.freshdesk import FreshdeskBackend

ANSWER = "El autobús 12 pasará mañana a las 7:40; el conductor ya sabe de su parada."


async def post_forms(config: Path, count: int, **fields: object) -> None:
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    try:
        gw = Gateway(server, http, settings)
        for i in range(count):
            resp = await gw.post_form(form(message=f"The bus did not come ({i}).", **fields), key=f"fd-{i}")
            assert resp.status == 202
    finally:
        await http.close()
        await server.close()


async def test_a_text_its_follow_up_the_agents_reply_and_the_resolution_go_both_ways(
    tmp_path: Path, redis_server: RedisServer, freshdesk: FreshdeskStandIn, standin: TwilioStandIn
) -> None:
    config = helpdesk_config(tmp_path, redis_server, freshdesk, standin)
    async with sms_gateway(config) as gw:
        point_at(freshdesk, gw)
        await text_in(gw, "El autobús 12 no pasó hoy", To=SPANISH)
        work(config)
        [rid] = request_ids(redis_server)
        [ticket] = freshdesk.all_tickets()
        data = ticket.data
        assert data["custom_fields"]["cf_intake_request"] == rid and data["group_id"] == GROUPS["Transportation"]
        assert (data["subject"], data["status"], data["priority"], data["source"]) == (
            "El autobús 12 no pasó hoy", 2, 2, 2
        )  # fmt: skip
        assert data["description"].startswith("<p>El autobús 12 no pasó hoy</p>") and "sms" in data["tags"]
        requester = freshdesk.contacts[data["requester_id"]]
        assert (requester["phone"], requester["name"]) == (PARENT, PARENT)  # Freshdesk wants a name with a phone
        assert ticket_of(redis_server, rid) == str(ticket.id)

        await text_in(gw, "Llegó 40 minutos tarde", To=SPANISH)
        work(config)
        [note] = ticket.conversations
        assert note["body_text"].startswith("Llegó 40 minutos tarde")
        assert (note["private"], note["incoming"], note["user_id"]) == (False, True, data["requester_id"])

        replied = await freshdesk.agent_reply(ticket.id, ANSWER)
        resolved = await freshdesk.set_status(ticket.id, 4)
        assert (replied.answers, resolved.answers) == ([200], [200])
        work(config)
        bodies = [t["Body"] for t in texts(standin)]
        assert bodies[0].startswith("Recibimos su mensaje")
        assert bodies[1:] == [
            f"Solicitud #{ticket.id}: abierta. {ANSWER}",  # Freshdesk has no "new": a ticket is Open from the start
            f"Solicitud #{ticket.id} resuelta. ¿Sigue el problema? Escriba NUEVO y cuéntenos.",  # the answer not again
        ]
        html = await status_page(gw, rid)
    assert 'data-status="resolved"' in html and ANSWER in html


async def test_a_webhook_without_the_secret_header_is_refused_and_changes_nothing(
    tmp_path: Path, redis_server: RedisServer, freshdesk: FreshdeskStandIn
) -> None:
    config = helpdesk_config(tmp_path, redis_server, freshdesk)
    await post_forms(config, 1)
    work(config)
    [ticket] = freshdesk.all_tickets()
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    try:
        url = str(server.make_url("/backends/freshdesk/events"))
        body = b'{"freshdesk_webhook": {"ticket_id": "%d", "ticket_status": "Resolved"}}' % ticket.id
        for case, headers in {"missing": {}, "wrong": {"X-Intake-Token": "guessed"},
                              "another header": {"X-Other": HOOK_SECRET}}.items():  # fmt: skip
            async with http.post(url, data=body, headers=headers) as resp:
                assert resp.status == 401, case
        malformed = {
            "not json": b"{nope",
            "no ticket": b'{"freshdesk_webhook": {"ticket_status": "Open"}}',
            "not a number": b'{"freshdesk_webhook": {"ticket_id": "x", "ticket_status": "Open"}}',
        }
        for case, raw in malformed.items():
            async with http.post(url, data=raw, headers={"X-Intake-Token": HOOK_SECRET}) as resp:
                assert resp.status == 400, case
        assert event_jobs(redis_server) == []
        async with http.post(url, data=body, headers={"X-Intake-Token": HOOK_SECRET}) as resp:
            assert resp.status == 200
    finally:
        await http.close()
        await server.close()
    assert len(event_jobs(redis_server)) == 1


async def test_a_redelivered_webhook_tells_the_family_once(
    tmp_path: Path, redis_server: RedisServer, freshdesk: FreshdeskStandIn, standin: TwilioStandIn
) -> None:
    config = helpdesk_config(tmp_path, redis_server, freshdesk, standin)
    async with sms_gateway(config) as gw:
        point_at(freshdesk, gw)
        await text_in(gw, "The bus did not come")
        work(config)
        [ticket] = freshdesk.all_tickets()
        sent = await freshdesk.agent_reply(ticket.id, "On it.")
        await freshdesk.resend(sent)
        work(config)
        await freshdesk.resend(sent)
        work(config)
    assert sent.answers == [200, 200, 200]
    assert [t["Body"] for t in texts(standin)][1:] == [f"Request #{ticket.id} is now open. On it."]


async def test_a_worker_killed_between_freshdesks_201_and_our_record_still_makes_one_ticket(
    tmp_path: Path, redis_server: RedisServer, freshdesk: FreshdeskStandIn
) -> None:
    """Freshdesk's filter API takes minutes to see a new ticket: the retry finds it in the list of changed ones."""
    freshdesk.index_delay_s = 3600
    config = helpdesk_config(tmp_path, redis_server, freshdesk)
    await post_forms(config, 1)
    [rid] = request_ids(redis_server)
    freshdesk.hold = ("POST", "/api/v2/tickets")
    worker = start_worker(config, tmp_path / "worker.log")
    try:
        assert freshdesk.held.wait(60), "the worker never asked Freshdesk for the ticket"
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    assert ticket_of(redis_server, rid) is None and len(freshdesk.all_tickets()) == 1
    freshdesk.hold = None
    result = intake(config, "worker", "--burst")
    assert result.returncode == 0, result.stderr[-2000:]
    [ticket] = freshdesk.all_tickets()
    assert ticket_of(redis_server, rid) == str(ticket.id)
    assert len(freshdesk.calls("POST", "/api/v2/tickets")) == 1
    assert len(freshdesk.calls("GET", "/api/v2/search/tickets")) == 2  # each try searched; the index had nothing
    listed = [c for c in freshdesk.calls("GET", "/api/v2/tickets") if c.path == "/api/v2/tickets"]
    assert len(listed) == 1  # only the retry, which knew a create call had gone out, read the list


def stop_all(workers: list[subprocess.Popen[bytes]], logs: list[Path], deadline_s: float = 120.0) -> None:
    """SIGTERM every worker; each must be gone by one shared, generous deadline, or the test names the one that
    ignored its stop (with its log's last lines) after killing it."""
    for worker in workers:
        os.killpg(worker.pid, signal.SIGTERM)
    deadline = time.monotonic() + deadline_s
    stuck = []
    for worker, log in zip(workers, logs, strict=True):
        try:
            worker.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(30)
            stuck.append(f"{log.name}: {log.read_text(errors='replace')[-1500:]}")
    assert not stuck, f"workers that ignored SIGTERM for {deadline_s:.0f} s: {stuck}"


@pytest.mark.timeout(420)  # eight worker processes on a two-core machine that may be busy with other tests
async def test_eight_workers_together_stay_within_the_accounts_allowance(
    tmp_path: Path, redis_server: RedisServer, freshdesk: FreshdeskStandIn
) -> None:
    """A minute compressed to 4 s: 40 calls a window, and nothing told to the gateway but what each answer says."""
    freshdesk.allowance, freshdesk.window_s = 40, 4.0
    config = helpdesk_config(tmp_path, redis_server, freshdesk, window_s=4)
    await post_forms(config, 40)
    ids = request_ids(redis_server)
    logs = [tmp_path / f"worker-{i}.log" for i in range(8)]
    workers = [start_worker(config, log) for log in logs]
    try:
        wait_until("every request has its ticket", lambda: all(ticket_of(redis_server, r) for r in ids), 240)
    finally:
        stop_all(workers, logs)
    counts = dict(freshdesk.window_counts)
    assert len(freshdesk.all_tickets()) == 40 and len({ticket_of(redis_server, r) for r in ids}) == 40
    assert freshdesk.refused_for_rate == 0, f"calls past the allowance: {freshdesk.refused_for_rate}; {counts}"
    assert max(counts.values()) <= 40 and sum(counts.values()) >= 80  # a search and a create each, at least
    busy = sorted(counts.values())[len(counts) // 2 :]
    assert min(busy) >= 20, f"the allowance was left unused: {counts}"  # paced, not merely slow


async def test_a_429_is_waited_out_for_its_retry_after(
    tmp_path: Path, redis_server: RedisServer, freshdesk: FreshdeskStandIn
) -> None:
    config = helpdesk_config(tmp_path, redis_server, freshdesk)
    freshdesk.script = [Scripted(429, "POST", "/api/v2/tickets", {"code": "rate_limited"}, {"Retry-After": "3"})]
    await post_forms(config, 1)
    with running_worker(config, tmp_path / "worker.log"):
        wait_until("the ticket is made", lambda: len(freshdesk.all_tickets()) == 1)
    first, second = (c.at for c in freshdesk.calls("POST", "/api/v2/tickets"))
    assert second - first >= 3.0


async def test_the_files_go_as_multipart_uploads(
    tmp_path: Path, redis_server: RedisServer, freshdesk: FreshdeskStandIn
) -> None:
    photo = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    files = [{"filename": "parada.png", "content_type": "image/png", "data_base64": base64.b64encode(photo).decode()}]
    config = helpdesk_config(tmp_path, redis_server, freshdesk, map={"custom_fields": {"school": "cf_school"}})
    await post_forms(config, 1, attachments=files)
    work(config)
    [ticket] = freshdesk.all_tickets()
    assert ticket.files == [("parada.png", "image/png", photo)]
    assert ticket.data["custom_fields"]["cf_school"] == "lhs" and ticket.data["group_id"] == GROUPS["Transportation"]
    requester = freshdesk.contacts[ticket.data["requester_id"]]
    assert (requester["email"], requester["name"]) == ("ana.perez@example.org", "Ana Pérez")


def test_check_config_reaches_freshdesk_and_names_what_is_wrong(
    tmp_path: Path, redis_server: RedisServer, freshdesk: FreshdeskStandIn
) -> None:
    ok = intake(helpdesk_config(tmp_path, redis_server, freshdesk), "check-config")
    assert ok.returncode == 0, ok.stderr
    assert "backend freshdesk: ok" in ok.stdout
    (tmp_path / "key").mkdir()
    refused = intake(helpdesk_config(tmp_path / "key", redis_server, freshdesk, api_key="wrong"), "check-config")
    assert refused.returncode == 2
    assert ("backends.freshdesk.api_key (FRESHDESK_API_KEY): Freshdesk refused it: agents.me: 401 You have to be "
            "logged in to perform this action.") in refused.stderr  # fmt: skip
    (tmp_path / "map").mkdir()
    wrong = helpdesk_config(tmp_path / "map", redis_server, freshdesk, request_field="cf_request", group="Buses")
    named = intake(wrong, "check-config")
    assert "backends.freshdesk.group: Freshdesk has no group 'Buses'" in named.stderr
    assert "backends.freshdesk.request_field: Freshdesk has no ticket field 'cf_request'" in named.stderr


async def test_a_field_freshdesk_rejects_is_dead_lettered_with_freshdesks_words(
    tmp_path: Path, redis_server: RedisServer, freshdesk: FreshdeskStandIn
) -> None:
    config = helpdesk_config(tmp_path, redis_server, freshdesk, map={"custom_fields": {"school": "cf_campus"}})
    await post_forms(config, 1)
    work(config)
    doctor = intake(config, "doctor")
    assert ("BackendRefused: freshdesk: ticket.create: 400 Validation failed: cf_campus: Unexpected/invalid field in "
            "request (invalid_field)") in doctor.stdout  # fmt: skip
    assert freshdesk.all_tickets() == []


def test_the_backend_switches_on_from_the_environment_alone() -> None:
    shipped = REPO / "config" / "gateway.yaml"
    env = {"FRESHDESK_URL": "https://district.freshdesk.com", "FRESHDESK_API_KEY": "k" * 20}
    assert FreshdeskBackend.enabled(load_settings(shipped, env=env))
    for missing in env:
        assert not FreshdeskBackend.enabled(load_settings(shipped, env={k: v for k, v in env.items() if k != missing}))
