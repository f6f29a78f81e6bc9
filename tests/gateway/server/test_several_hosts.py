"""Several hosts on one machine: two web processes (each its own data_dir) behind a round-robin proxy, two workers
and one mail poller, sharing one Redis, one PostgreSQL (the built-in store) and the PostgreSQL blob store.

Every channel goes through them: the web form, Twilio-signed SMS, mail from a real Dovecot, signed Slack events.
A provider's retry landing on the other process is a duplicate, a follow-up landing on the other process joins
the same conversation, and a file one process took is downloaded from the other.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import redis

from gateway.settings import Settings
from gateway.tickets import TicketStore
from tests.channels.email_support import BORDER, mail, mailbox_conf
from tests.channels.slack_support import event
from tests.channels.twilio_support import PARENT, PUBLIC, signature, sms, twilio_settings
from tests.support.dovecot import Dovecot
from tests.support.gateway import TOKEN, settings_from, start_process, write_config
from tests.support.postgres import PostgresServer
from tests.support.redis_server import RedisServer, free_port
from tests.support.round_robin import RoundRobinProxy
from tests.support.slack_api import SlackAPI, signed_headers, slack_config
from tests.support.smtp_sink import SmtpSink
from tests.support.staff import add_staff, session_headers
from tests.support.twilio_api import TwilioStandIn
from tests.support.waiting import eventually

PHOTO = b"\x89PNG\r\n\x1a\n" + b"a photo of the broken bus stop sign" * 50
A, B = 0, 1


@dataclass
class Hosts:
    webs: list[str]  # each web process's own address
    proxy: RoundRobinProxy
    http: aiohttp.ClientSession  # a new connection for every request: the proxy turns at each
    database_url: str
    redis: redis.Redis
    settings: Settings  # web process A's

    async def on(self, web: int) -> str:
        """The proxy's address, once its next connection is bound for web process `web`."""
        while len(self.proxy.served) % len(self.webs) != web:
            async with self.http.get(self.proxy.base + "/healthz") as resp:
                assert resp.status == 200
        return self.proxy.base

    def tickets(self) -> list[Any]:
        store = TicketStore.open(self.database_url, upgrade=False)
        try:
            return [store.details(t.id) for t in store.page(per_page=100).items]
        finally:
            store.close()


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[TwilioStandIn]:
    from tests.channels.twilio_support import ACCOUNT_SID, AUTH_TOKEN

    api = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN, tmp_path).start()
    yield api
    api.stop()


@pytest.fixture
def slack_api() -> Iterator[SlackAPI]:
    api = SlackAPI().start()
    yield api
    api.stop()


@pytest.fixture
async def hosts(
    tmp_path: Path, redis_server: RedisServer, postgres_server: PostgresServer, dovecot: Dovecot,
    smtp_sink: SmtpSink, standin: TwilioStandIn, slack_api: SlackAPI,
) -> AsyncIterator[Hosts]:  # fmt: skip
    url = postgres_server.create_database()
    email = {"mailboxes": {"help": mailbox_conf(dovecot, smtp_sink)}, "border_host": BORDER, "poll_interval_s": 0.5}
    shared: dict[str, Any] = {
        "backends": {"builtin": {"database_url": url}},
        "blobs": {"store": "postgres"},
        "channels": {"twilio": twilio_settings(standin), "slack": slack_config(slack_api), "email": email},
    }
    ports = [free_port(), free_port()]
    configs = {}
    for name, port in (("web-a", ports[A]), ("web-b", ports[B]), ("workers", 0), ("mail", 0)):
        (tmp_path / name).mkdir()
        server = {"public_base_url": PUBLIC, "port": port}
        configs[name] = write_config(tmp_path / name, redis_server.url, server=server, **shared)
    logs = tmp_path / "processes.log"
    procs = [
        start_process(configs["web-a"], logs, "serve"),
        start_process(configs["web-b"], logs, "serve"),
        start_process(configs["workers"], logs, "worker"),
        start_process(configs["workers"], logs, "worker"),
        start_process(configs["mail"], logs, "mail"),
    ]
    proxy = await RoundRobinProxy([("127.0.0.1", p) for p in ports]).start()
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
    webs = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        # While the processes start (each brings the new database to its schema, one at a time, or finds it done).
        # An agent downloads only the files of her departments: the photo comes with a transportation request.
        await asyncio.to_thread(
            partial(add_staff, settings_from(configs["web-a"]), "abby", "agent", departments=["transportation"])
        )
        for web in webs:
            await eventually(lambda web=web: _up(http, web), f"{web} answering", timeout=90)  # type: ignore[misc]
        yield Hosts(webs, proxy, http, url, redis_server.client(), settings_from(configs["web-a"]))
    finally:
        await http.close()
        await proxy.close()
        _stop(procs)


async def _up(http: aiohttp.ClientSession, base: str) -> bool:
    try:
        async with http.get(base + "/healthz") as resp:
            return resp.status == 200
    except aiohttp.ClientError:
        return False


async def form(h: Hosts, web: int, key: str, message: str, **extra: Any) -> dict[str, Any]:
    body = {"name": "Ana Pérez", "email": "ana.perez@example.org", "category": "transportation", "school": "lhs",
            "message": message, **extra}  # fmt: skip
    headers = {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": key}
    async with h.http.post(await h.on(web) + "/hooks/webform", json=body, headers=headers) as resp:
        assert resp.status == 202, await resp.text()
        answer: dict[str, Any] = await resp.json()
        return answer


async def text(h: Hosts, web: int, params: dict[str, str]) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "X-Twilio-Signature": signature(PUBLIC + "/hooks/twilio/sms", params)}  # fmt: skip
    async with h.http.post(await h.on(web) + "/hooks/twilio/sms", data=urlencode(params), headers=headers) as resp:
        assert resp.status == 200, await resp.text()


async def slack(h: Hosts, web: int, body: dict[str, Any], retry: int = 0) -> None:
    raw = json.dumps(body).encode()
    headers = signed_headers(raw) | (
        {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
    )
    async with h.http.post(await h.on(web) + "/hooks/slack/events", data=raw, headers=headers) as resp:
        assert resp.status == 200, await resp.text()


async def test_every_channel_through_two_web_processes_makes_each_ticket_once_threads_across_them_and_shares_files(
    hosts: Hosts, dovecot: Dovecot, standin: TwilioStandIn
) -> None:
    h = hosts
    photo = {"filename": "stop.png", "data_base64": base64.b64encode(PHOTO).decode()}
    await form(h, A, "form-photo", "The sign at the Lincoln stop is bent.", attachments=[photo])
    first = await form(h, B, "form-late", "The 7:10 bus did not come.")
    assert await form(h, A, "form-late", "The 7:10 bus did not come.") == first  # the retry, on the other process

    opening = sms("The bus did not come", MessageSid="SM" + "1" * 32)
    await text(h, A, opening)
    await text(h, B, opening)  # Twilio's retry of the same message, on the other process
    await text(h, B, sms("It came 40 minutes late", MessageSid="SM" + "2" * 32))  # the follow-up, on the other

    question = event(text="Is school open tomorrow?")
    await slack(h, A, question)
    await slack(h, B, question, retry=1)
    dovecot.deliver("helpdesk", mail(subject="Chromebook will not charge"))

    def settled() -> bool:
        tickets = h.tickets()
        by_channel = {d.ticket.channel: d for d in tickets}
        return len(tickets) >= 5 and "sms" in by_channel and len(by_channel["sms"].comments) >= 1

    await eventually(settled, "five tickets, the texted follow-up on the first text's", timeout=120)
    await eventually(lambda: _queues_empty(h), "the workers done")
    tickets = h.tickets()
    assert sorted(d.ticket.channel for d in tickets) == ["email", "slack", "sms", "webform", "webform"]
    [texted] = [d for d in tickets if d.ticket.channel == "sms"]
    assert "The bus did not come" in texted.ticket.body
    assert [c.body for c in texted.comments if "40 minutes" in c.body] == [c.body for c in texted.comments]
    assert len(texted.comments) == 1
    assert len([r for r in standin.created() if r.form.get("To") == PARENT]) == 1  # one acknowledgement

    [with_photo] = [d for d in tickets if d.attachments]
    [kept] = with_photo.attachments
    assert with_photo.ticket.queue == "transportation"
    assert (kept.filename, kept.kept, kept.size) == ("stop.png", True, len(PHOTO))
    assert h.proxy.served[0] == A
    session = await session_headers(h.settings, "abby")  # a session as A's sign-in makes it, kept in Redis
    async with h.http.get(f"{h.webs[B]}/staff/attachments/{kept.storage_key}", headers=session) as resp:
        assert (resp.status, await resp.read()) == (200, PHOTO)  # taken by A, served by B
    async with h.http.get(f"{h.webs[A]}/staff/attachments/{kept.storage_key}") as resp:
        assert resp.status == 401  # and to nobody without a session


def _queues_empty(h: Hosts) -> bool:
    """Nothing queued and nothing running on any rq queue (deliveries, replies, events)."""
    queued = [k for k in h.redis.keys("rq:queue:*") if h.redis.type(k) == b"list" and h.redis.llen(k)]
    running = [k for k in h.redis.keys("rq:wip:*") if h.redis.zcard(k)]
    return not queued and not running
