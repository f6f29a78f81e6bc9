"""Shared pieces of the email channel's tests: configuration, a poller in this process, sample mail."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from gateway.intake.runtime import Runtime, build_runtime
from gateway.mail.answers import HelpDeskMail
from gateway.mail.parsing import MailParsers
from gateway.mail.poller import MailboxPoller
from gateway.settings import Settings
from gateway.store.redis_conn import sync_client
from gateway.tasks import cancel_and_wait
from tests.mail_fixtures import IMAP_PASSWORD, IMAP_USER
from tests.support.dovecot import Dovecot
from tests.support.gateway import OPERATOR, OPERATOR_TOKEN, settings_from, write_config
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import SmtpSink
from workers.backends import mail_answering

HELP = "help@district.example.org"
BORDER = "mx.district.example.org"


def mailbox_conf(dovecot: Dovecot, smtp: SmtpSink | None, /, **extra: Any) -> dict[str, Any]:
    """The `help` mailbox on the test Dovecot; `extra` replaces whole keys (`smtp={...}` included)."""
    box: dict[str, Any] = {
        "address": HELP,
        "imap": {"host": dovecot.host, "port": dovecot.port, "security": "none", "user": IMAP_USER,
                 "password": IMAP_PASSWORD, "timeout_s": 5},
    }  # fmt: skip
    if smtp is not None:
        box["smtp"] = {"host": smtp.host, "port": smtp.port, "security": "none", "timeout_s": 5}
    box.update(extra)
    return box


def mail_config(
    tmp_path: Path, redis_server: RedisServer, dovecot: Dovecot, smtp: SmtpSink | None, **email: Any
) -> Path:
    """`box={...}` overrides mailbox keys, `identity={...}` adds a directory, `redis={...}` sets Redis keys; anything
    else is channels.email."""
    box_extra = email.pop("box", {})
    top = {key: email.pop(key) for key in ("identity", "redis") if key in email}
    conf = {"mailboxes": {"help": mailbox_conf(dovecot, smtp, **box_extra)}, "border_host": BORDER,
            "poll_interval_s": 0.5, **email}  # fmt: skip
    server = {"operator_token": OPERATOR_TOKEN}  # operator_views reads /readyz's detail
    return write_config(tmp_path, redis_server.url, channels={"email": conf}, server=server, **top)


async def operator_views(config: Path) -> tuple[dict[str, Any], str]:
    """What a web process started on `config` answers at /readyz (JSON) and /metrics (text)."""
    from tests.conftest import start_gateway

    server, http = await start_gateway(settings_from(config))
    try:
        ready = await (await http.get(server.make_url("/readyz"), headers=OPERATOR)).json()
        metrics = await (await http.get(server.make_url("/metrics"), headers=OPERATOR)).text()
    finally:
        await http.close()
        await server.close()
    return ready, metrics


def mail(
    *,
    sender: str = "Ana Pérez <ana.perez@example.org>",
    to: str = HELP,
    subject: str = "Chromebook will not charge",
    body: str = "Hello, my son's Chromebook stopped charging yesterday. Can someone look at it?\n",
    headers: dict[str, str] | None = None,
    message_id: str | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 11, 20, 14, 3, tzinfo=UTC))
    msg["Message-ID"] = message_id or make_msgid(domain="example.org")
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(body)
    return bytes(msg)


@dataclass
class Poller:
    """The real poller and pipeline, run in this process so a test can step through passes."""

    runtime: Runtime
    poller: MailboxPoller
    settings: Settings

    async def pass_once(self) -> int:
        if self.poller.session.client is None:
            await self.poller.session.connect()
            for folder in (self.poller.box.processed_folder, self.poller.box.quarantine_folder):
                await self.poller.session.ensure_folder(folder)
        return await self.poller.pass_once()


@contextlib.asynccontextmanager
async def running_poller(config: Path) -> AsyncIterator[Poller]:
    import asyncio

    settings = settings_from(config)
    rt = build_runtime(settings, "spool-mail.sqlite3")
    tasks = [asyncio.create_task(rt.committer.run())]
    parsers = MailParsers(settings, workers=1)  # as `intake mail` parses: in another process
    box = settings.channels.email.mailboxes["help"]
    sync_redis = sync_client(settings)
    desks = HelpDeskMail(mail_answering(settings), rt.redis, sync_redis, settings)  # as `intake mail` builds it
    poller = MailboxPoller("help", box, settings.channels.email, parsers, rt.pipeline, rt.redis, rt.metrics, desks)
    try:
        await parsers.start()
        yield Poller(rt, poller, settings)
    finally:
        await poller.session.close()
        await cancel_and_wait(*tasks)
        await rt.close()
        sync_redis.close()
        parsers.close()
