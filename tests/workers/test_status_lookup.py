"""A family asking for their status is told what the ticket system says now: a real Redmine and RT, Zammad's stand-in.

Nothing here sends the gateway a status event: staff change the issue in Redmine and no poll runs, so the
only way the new status can reach the family's ESTADO answer or the status page is the look-up through the
backend's `fetch_status`. When Redmine is slow or gone, the family gets the last status we know, no error.
Texts go through the real `intake worker` process and the official Twilio client to the local stand-in.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from rq import Queue
from rq.registry import FailedJobRegistry

from gateway import keys
from gateway.store.queues import EVENTS_QUEUE, REPLIES_QUEUE
from tests.channels.twilio_support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PARENT,
    PUBLIC,
    SPANISH,
    sms_gateway,
    text_in,
    texts,
    twilio_settings,
    work,
)
from tests.channels.x_support import (
    ACCESS_SECRET,
    ACCESS_TOKEN,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    USER_TOKEN,
    dm,
    x_gateway,
    x_settings,
)
from tests.conftest import Gateway, form, start_gateway
from tests.redmine_fixtures import Staff, redmine_section
from tests.support.browser import chromium
from tests.support.gateway import intake, settings_from, start_worker, write_config
from tests.support.holding_proxy import HoldingProxy
from tests.support.inprocess import work_here
from tests.support.redis_server import RedisServer
from tests.support.redmine import RedmineServer
from tests.support.rt import RequestTracker
from tests.support.twilio_api import TwilioStandIn
from tests.support.waiting import DEADLINE_S
from tests.support.x_api import XStandIn
from tests.support.zammad_api import ZammadStandIn
from tests.workers.backends.helpdesk_support import HOOK_SECRET, ZAMMAD_TOKEN, section
from tests.workers.backends.redmine_support import poll_and_publish, request_ids, ticket_of
from tests.workers.backends.rt_support import new_phone, rt_config
from tests.workers.backends.rt_support import ticket_ref as rt_ticket


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[TwilioStandIn]:
    api = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN, tmp_path).start()
    yield api
    api.stop()


@pytest.fixture
def x_api() -> Iterator[XStandIn]:
    api = XStandIn(CONSUMER_KEY, CONSUMER_SECRET, ACCESS_TOKEN, ACCESS_SECRET, USER_TOKEN).start()
    yield api
    api.stop()


@pytest.fixture
def zammad(tmp_path: Path) -> Iterator[ZammadStandIn]:
    desk = ZammadStandIn(ZAMMAD_TOKEN, HOOK_SECRET, tmp_path).start()
    yield desk
    desk.stop()


def config_for(
    directory: Path, redis_server: RedisServer, redmine: RedmineServer, url: str,
    standin: TwilioStandIn | None = None, **sync: Any,
) -> Path:  # fmt: skip
    """A gateway whose tickets go to Redmine at `url` (the server itself, a proxy, or nothing at all)."""
    directory.mkdir(parents=True, exist_ok=True)
    channels = {"twilio": twilio_settings(standin)} if standin is not None else {}
    return write_config(
        directory, redis_server.url, server={"public_base_url": PUBLIC}, channels=channels,
        backends={"default": "redmine", "redmine": redmine_section(redmine, url=url)}, sync=sync,
    )  # fmt: skip


def conversation_of(redis_server: RedisServer, request_id: str) -> dict[str, str]:
    r = redis_server.client()
    conv = r.hget(keys.request(request_id), "conversation")
    assert conv is not None
    return {k.decode(): v.decode() for k, v in r.hgetall(keys.conversation(conv.decode())).items()}


def timeline_statuses(redis_server: RedisServer, request_id: str) -> list[str]:
    r = redis_server.client()
    conv = r.hget(keys.request(request_id), "conversation")
    assert conv is not None
    entries = [json.loads(e) for e in r.lrange(keys.timeline(conv.decode()), 0, -1)]
    return [e["status"] for e in entries if e.get("event") == "status_changed"]


def closed_port() -> int:
    """A port on this machine where nothing listens: a ticket system that is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def no_failed_jobs(redis_server: RedisServer) -> None:
    r = redis_server.client()
    for name in (REPLIES_QUEUE, EVENTS_QUEUE):
        assert FailedJobRegistry(queue=Queue(name, connection=r)).get_job_ids() == []


async def test_a_status_changed_in_redmine_with_no_event_reaches_the_familys_estado_answer_and_is_told_once(
    tmp_path: Path, redis_server: RedisServer, redmine: RedmineServer, staff: Staff, standin: TwilioStandIn
) -> None:
    config = config_for(tmp_path, redis_server, redmine, redmine.url, standin)
    settings = settings_from(config)
    async with sms_gateway(config) as gw:
        await text_in(gw, "El autobús 12 no pasó hoy por la parada de Elm", To=SPANISH)
    work(config)
    [rid] = request_ids(redis_server)
    ref = ticket_of(redis_server, rid)
    assert ref is not None
    _, checkpoint = poll_and_publish(settings, "", ref)  # the poller starts here, and does not run again yet
    assert conversation_of(redis_server, rid)["status"] == "new"

    staff.api.issue.update(int(ref), status_id=staff.status_id("In Progress"))  # no note, no webhook, no poll
    async with sms_gateway(config) as gw:
        await text_in(gw, "ESTADO", To=SPANISH)
    work(config)

    ack, answer = texts(standin)
    assert ack["Body"].startswith(f"Recibimos su mensaje: solicitud #{ref}")
    assert (answer["Body"], answer["To"], answer["From"]) == (f"Sus solicitudes abiertas: #{ref} en proceso.",
                                                              PARENT, SPANISH)  # fmt: skip
    # Recorded as a status change, so the page, the dashboard and later answers say the same.
    assert conversation_of(redis_server, rid)["status"] == "in_progress"
    assert timeline_statuses(redis_server, rid) == ["in_progress"]

    events, _ = poll_and_publish(settings, checkpoint, ref)  # the poll that brings the same change later
    assert [e.status.value for e in events] == ["in_progress"]
    work(config)
    assert len(texts(standin)) == 2  # the family was told in the answer: nothing more goes out
    assert timeline_statuses(redis_server, rid) == ["in_progress"]
    no_failed_jobs(redis_server)


async def test_the_status_page_shows_a_status_changed_in_redmine_with_no_event_once_a_worker_looked_it_up(
    tmp_path: Path, redis_server: RedisServer, redmine: RedmineServer, staff: Staff
) -> None:
    config = config_for(tmp_path, redis_server, redmine, redmine.url, page_wait_s=0.2)
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    gw = Gateway(server, http, settings)
    try:
        resp = await gw.post_form(form())
        assert resp.status == 202
        path = urlsplit((await resp.json())["status_url"]).path
        work_here(settings)
        [rid] = request_ids(redis_server)
        ref = ticket_of(redis_server, rid)
        assert ref is not None
        staff.api.issue.update(int(ref), status_id=staff.status_id("Feedback"))  # waiting for the family

        # No worker is running: the page asks for a look-up, waits its budget and shows what it knows.
        started = time.monotonic()
        before = await gw.http.get(gw.base + path)
        before_html = await before.text()
        waited = time.monotonic() - started
        queued = Queue(EVENTS_QUEUE, connection=redis_server.client()).get_job_ids()
        work_here(settings)  # a worker takes the look-up
        after = await gw.http.get(gw.base + path)
        after_html = await after.text()
    finally:
        await http.close()
        await server.close()
    assert before.status == 200 and 'data-status="new"' in before_html
    assert waited < DEADLINE_S  # bounded by page_wait_s, not by Redmine or a worker
    assert len([j for j in queued if j.startswith("status-lookup-")]) == 1
    assert after.status == 200 and 'data-status="waiting"' in after_html
    assert conversation_of(redis_server, rid)["status"] == "waiting"
    assert timeline_statuses(redis_server, rid) == ["waiting"]


async def test_with_a_worker_running_the_familys_first_visit_in_the_browser_shows_the_status_redmine_reports_now(
    tmp_path: Path, redis_server: RedisServer, redmine: RedmineServer, staff: Staff
) -> None:
    config = config_for(tmp_path, redis_server, redmine, redmine.url, page_wait_s=DEADLINE_S)
    settings = settings_from(config)
    server, http = await start_gateway(settings)
    gw = Gateway(server, http, settings)
    worker = None
    shown: tuple[str | None, str | None] = (None, None)
    try:
        resp = await gw.post_form(form())
        assert resp.status == 202
        path = urlsplit((await resp.json())["status_url"]).path
        work_here(settings)
        [rid] = request_ids(redis_server)
        ref = ticket_of(redis_server, rid)
        assert ref is not None
        staff.api.issue.update(int(ref), status_id=staff.status_id("In Progress"))
        worker = start_worker(config, tmp_path / "worker.log")
        async with chromium() as browser:
            page = await browser.new_page(locale="es-US")
            try:
                # One visit: the page waits (up to page_wait_s) for the worker's look-up, so goto gets longer still.
                await page.goto(gw.base + path, timeout=(DEADLINE_S + 30) * 1000)
                status = page.locator("#status")
                # Read once, as loaded: no reload and no waiting for the text to change.
                shown = (await status.text_content(), await status.get_attribute("data-status"))
            finally:
                await page.close()
    finally:
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(DEADLINE_S)
        await http.close()
        await server.close()
    assert shown == ("En proceso", "in_progress")


async def test_redmine_slow_or_down_gives_the_family_the_last_known_status_with_no_error_and_logs_no_ids(
    tmp_path: Path, redis_server: RedisServer, redmine: RedmineServer, staff: Staff, standin: TwilioStandIn
) -> None:
    proxy = HoldingProxy(redmine.url, hold=("GET", "/issues/")).start()
    try:
        slow = config_for(tmp_path / "slow", redis_server, redmine, proxy.url, standin, lookup_timeout_s=1)
        async with sms_gateway(slow) as gw:
            await text_in(gw, "El autobús 12 no pasó hoy por la parada de Elm", To=SPANISH)
        work(slow)
        [rid] = request_ids(redis_server)
        ref = ticket_of(redis_server, rid)
        assert ref is not None
        staff.api.issue.update(int(ref), status_id=staff.status_id("In Progress"))

        proxy.holding.set()  # Redmine answers, and the answer never reaches us
        async with sms_gateway(slow) as gw:
            await text_in(gw, "ESTADO", To=SPANISH)
        slow_run = intake(slow, "worker", "--burst", timeout=170)
        assert slow_run.returncode == 0, slow_run.stderr[-2000:]
        assert proxy.held.acquire(timeout=DEADLINE_S), "the worker never asked Redmine for the issue"
    finally:
        proxy.stop()

    down = config_for(tmp_path / "down", redis_server, redmine, f"http://127.0.0.1:{closed_port()}", standin)
    async with sms_gateway(down) as gw:
        await text_in(gw, "ESTADO", To=SPANISH)
    down_run = intake(down, "worker", "--burst", timeout=170)
    assert down_run.returncode == 0, down_run.stderr[-2000:]

    _, slow_answer, down_answer = (t["Body"] for t in texts(standin))
    assert slow_answer == down_answer == f"Sus solicitudes abiertas: #{ref} recibida."  # the last status we know
    assert conversation_of(redis_server, rid)["status"] == "new"  # nothing recorded from a system that said nothing
    no_failed_jobs(redis_server)

    conv = redis_server.client().hget(keys.request(rid), "conversation")
    assert conv is not None
    for run, why in ((slow_run, "timeout"), (down_run, "Backend")):
        logged = run.stdout + run.stderr
        [line] = [json.loads(x) for x in logged.splitlines() if "ticket statuses looked up" in x]
        assert list(line["fallbacks"]) == ["redmine"] and line["fallbacks"]["redmine"].startswith(why)
        for private in (PARENT, PARENT.lstrip("+"), rid, conv.decode(), f'"{ref}"', f"#{ref}", "ESTADO"):
            assert private not in logged


async def test_status_on_x_answers_with_the_state_zammad_reports_now_though_no_webhook_came(
    tmp_path: Path, redis_server: RedisServer, x_api: XStandIn, zammad: ZammadStandIn
) -> None:
    config = write_config(tmp_path, redis_server.url, channels={"x": x_settings(x_api)},
                          backends={"default": "zammad", "zammad": section(zammad)})  # fmt: skip
    async with x_gateway(config) as gw:
        assert (await gw.post(dm("The library laptop will not start")))[0] == 200
        work(config)
        [rid] = request_ids(redis_server)
        ref = ticket_of(redis_server, rid)
        assert ref is not None
        zammad.set_state_quietly(ref, "pending reminder")  # waiting for the family, and Zammad tells no one
        assert (await gw.post(dm("status")))[0] == 200
    work(config)
    report = f"Your open requests: #{ref} waiting for your answer. Write here to add to your latest one."
    assert [d.text for d in x_api.sent].count(report) == 1
    assert conversation_of(redis_server, rid)["status"] == "waiting"
    no_failed_jobs(redis_server)


async def test_a_ticket_stalled_in_rt_with_no_poll_reaches_the_familys_estado_answer(
    tmp_path: Path, redis_server: RedisServer, rt_server: RequestTracker, standin: TwilioStandIn
) -> None:
    config = rt_config(tmp_path, redis_server, rt_server, standin)
    phone = new_phone()
    async with sms_gateway(config) as gw:
        await text_in(gw, "El autobús 12 no pasó hoy", To=SPANISH, From=phone)
    work(config)
    [rid] = request_ids(redis_server)
    ticket = rt_ticket(redis_server, rid)

    rt_server.set_status(ticket, "stalled")  # RT sends nothing; `intake sync` has not run
    async with sms_gateway(config) as gw:
        await text_in(gw, "ESTADO", To=SPANISH, From=phone)
    work(config)
    sent = [t["Body"] for t in texts(standin) if t["To"] == phone]
    assert sent[-1] == f"Sus solicitudes abiertas: #{ticket} espera respuesta."
    assert conversation_of(redis_server, rid)["status"] == "waiting"
    no_failed_jobs(redis_server)
