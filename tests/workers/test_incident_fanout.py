"""An incident update to 1,000 linked requesters across channels: each told exactly once, even through crashes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from gateway import keys
from gateway.ids import fingerprint, new_id
from gateway.incidents.store import IncidentStore
from gateway.models import Commitment, InboundMessage, Requester, Route
from gateway.store.commit import Committer
from gateway.store.redis_conn import async_client
from tests.conftest import Gateway, form
from tests.support.gateway import intake, settings_from, start_worker, write_config
from tests.support.redis_server import RedisServer
from workers import context
from workers.incident_repair import LOST_AFTER_S
from workers.recovery.reaping import reap_dead_local_workers
from workers.runner import queues

PER_CHANNEL = 500
UPDATE = "The district network is back; thank you for your patience."


def email_message(i: int) -> InboundMessage:
    return InboundMessage(
        id=new_id(), channel="email", account="help", provider_id=f"<outage-{i}@families.example.org>",
        sender=f"family{i}@families.example.org", requester=Requester(email=f"family{i}@families.example.org"),
        subject="Internet down", text=f"Our internet at home works but the school portal is down ({i})",
        language="es" if i % 2 else "en",
    )  # fmt: skip


async def link_requesters(gateway: Gateway, redis_server: RedisServer, config: Path) -> tuple[list[str], list[str]]:
    """500 web form requests (through the app) and 500 email requests, all matching incident 1."""
    texts = [(f"The portal and wifi are down ({i})", "es" if i % 2 else "en") for i in range(PER_CHANNEL)]
    posts = [gateway.post_form(form(email=None, phone=f"555201{i:04d}", message=t, language=lang))
             for i, (t, lang) in enumerate(texts)]  # fmt: skip
    web = []
    for resp in await asyncio.gather(*posts):
        assert resp.status == 202
        web.append(str((await resp.json())["request_id"]))
    client = async_client(gateway.settings)
    mails = [email_message(i) for i in range(PER_CHANNEL)]
    batch = [Commitment(message=m, fingerprint=fingerprint("email", "help", m.provider_id, b""), conversation=m.id,
                        route=Route()) for m in mails]  # fmt: skip
    await Committer(client, gateway.settings).commit(batch)
    await client.aclose()
    # The setup runs the real deliver jobs in this process (rq's SimpleWorker): a forking worker spends most of
    # a second per job on a busy machine, and the fan-out below, the part under test, runs in worker processes.
    context.configure(settings_from(config))
    connection = context.connection()
    qs = queues(connection, gateway.settings)
    SimpleWorker(qs, connection=connection, serializer=JSONSerializer).work(burst=True, logging_level="WARNING")
    assert IncidentStore(redis_server.client()).get("1").children == 2 * PER_CHANNEL  # type: ignore[union-attr]
    return web, [m.id for m in mails]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def kill(worker: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker, its scheduler and its work horse (rq puts the horse in a process group of its own)."""
    horses = children(worker.pid)
    os.killpg(worker.pid, signal.SIGKILL)
    for pid in horses:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.wait(10)


def told(redis_server: RedisServer, web: list[str]) -> tuple[Counter[str], Counter[str]]:
    """How many times each conversation received the update: on its status page, and by email."""
    r = redis_server.client()
    pages: Counter[str] = Counter()
    with r.pipeline() as pipe:
        for conv in web:
            pipe.lrange(keys.timeline(conv), 0, -1)
        for conv, entries in zip(web, pipe.execute(), strict=True):
            pages[conv] = sum(1 for e in map(json.loads, entries) if e["event"] == "reply" and UPDATE in e["text"])
    mail: Counter[str] = Counter()
    for raw in r.lrange(keys.pending_outbound("email"), 0, -1):
        reply = json.loads(raw)["reply"]
        if UPDATE in reply["text"]:
            mail[reply["conversation"]] += 1
    return pages, mail


@pytest.mark.timeout(360)  # a thousand requesters and two worker restarts: about two minutes on a busy machine
async def test_an_update_to_a_thousand_requesters_survives_two_worker_kills_and_tells_each_once(
    tmp_path: Path, redis_server: RedisServer, gateway: Gateway
) -> None:
    config = write_config(tmp_path, redis_server.url, incidents={"fanout_chunk": 100})
    opened = intake(config, "incident", "open", "--title", "Network outage", "--match", "internet|wi-?fi",
                    "--until", "2999-01-01T00:00")  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    web, mail = await link_requesters(gateway, redis_server, config)
    r = redis_server.client()
    store = IncidentStore(r)
    events = Queue("events", connection=r, serializer=JSONSerializer)
    connection = context.connection()
    replies = Queue("replies", connection=r, serializer=JSONSerializer)

    assert intake(config, "incident", "update", "1", "--status", "resolved", "--message", UPDATE).returncode == 0
    log = tmp_path / "worker.log"
    worker = start_worker(config, log)
    try:
        # First crash: inside the second fan-out job, after it queued some of its chunk's replies but not all.
        wait_for(lambda: 110 < len(replies) < 190, "the second fan-out job to be half-way through its chunk")
        kill(worker)
        done, total = store.fanout_progress("1", 1)
        assert done == 100 and total == 2 * PER_CHANNEL

        # Second crash: the fan-out has finished queueing, and the replies are going out.
        worker = start_worker(config, log)
        wait_for(lambda: store.fanout_progress("1", 1)[0] == total, "the fan-out to queue every reply")
        sent = replies.finished_job_registry
        wait_for(lambda: sum(j.startswith("reply-incident-1-1-") for j in sent.get_job_ids()) >= 50, "50 updates sent")
        kill(worker)
        killed_at = time.monotonic()
    finally:
        if worker.poll() is None:
            kill(worker)
    pages, emails = told(redis_server, web)
    assert 0 < sum(pages.values()) + sum(emails.values()) < total, "the second kill did not land mid-way"

    # Finish: recover the killed workers' jobs as `intake worker` does at start, then work the queues.
    qs = queues(connection, gateway.settings)
    reap_dead_local_workers(connection, qs)
    SimpleWorker(qs, connection=connection, serializer=JSONSerializer).work(burst=True, logging_level="WARNING")
    # A worker killed between taking a job off its queue and starting it drops the job (rq); `incident show`
    # finds such replies once they have been missing for LOST_AFTER_S and queues them again.
    time.sleep(max(0.0, LOST_AFTER_S + 1 - (time.monotonic() - killed_at)))
    shown = intake(config, "incident", "show", "1")
    assert shown.returncode == 0, shown.stderr
    SimpleWorker(qs, connection=connection, serializer=JSONSerializer).work(burst=True, logging_level="WARNING")
    assert f"fanned out {total}/{total}, sent {total}/{total}" in intake(config, "incident", "show", "1").stdout
    pages, emails = told(redis_server, web)
    assert set(pages) == set(web) and set(pages.values()) == {1}
    assert set(emails) == set(mail) and set(emails.values()) == {1}
    assert len(events.failed_job_registry) == 0 and len(replies.failed_job_registry) == 0
    assert r.scard(keys.INCIDENT_FANOUTS_PENDING) == 0
    # Every child ticket (2..1001; #1 is the parent) was marked resolved exactly once.
    path = settings_from(config).path_in_data("tickets.sqlite3")
    with sqlite3.connect(path) as db:
        sql = "SELECT ticket_id, count(*) FROM status_history WHERE status = 'resolved' GROUP BY ticket_id"
        marks = db.execute(sql)
        assert dict(marks.fetchall()) == {t: 1 for t in range(1, total + 2)}
