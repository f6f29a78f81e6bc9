"""Every way a connection to the mail server can fail closes our socket: a poller retrying a wrong password
for a weekend must not hold one socket per try (nor leave them for the garbage collector to find)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from gateway.mail.imap import ImapError, ImapSession, LoginFailed
from gateway.settings import MailServer
from tests.mail_fixtures import IMAP_PASSWORD, IMAP_USER
from tests.support.dovecot import Dovecot

TRIES = 5
DEADLINE_S = 60.0


def sockets_to(port: int) -> int:
    """This process's open TCP sockets whose far end is 127.0.0.1:port (read from /proc, as `ss -p` does)."""
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            ours.add(target[8:-1])
    found = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            state_closed = fields[3] == "07"
            if remote_port == port and fields[9] in ours and not state_closed:
                found += 1
    return found


async def none_left(port: int) -> None:
    """A closed transport lets go of its socket on the loop's next turns: wait for it, generously."""
    deadline = time.monotonic() + DEADLINE_S
    while sockets_to(port) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert sockets_to(port) == 0, f"{sockets_to(port)} socket(s) to the mail server left open"


def server(dovecot: Dovecot, **overrides: object) -> MailServer:
    fields: dict[str, object] = {"host": dovecot.host, "port": dovecot.port, "security": "none", "user": IMAP_USER,
                                 "password": SecretStr(IMAP_PASSWORD), "timeout_s": 10}  # fmt: skip
    fields.update(overrides)
    return MailServer.model_validate(fields)


async def test_a_refused_login_closes_its_socket_every_try(dovecot: Dovecot) -> None:
    session = ImapSession(server(dovecot, password=SecretStr("a wrong password")))
    for _ in range(TRIES):
        with pytest.raises(LoginFailed):
            await session.connect()
    await none_left(dovecot.port)


async def test_a_server_without_starttls_closes_the_socket_it_opened(dovecot: Dovecot) -> None:
    session = ImapSession(server(dovecot, security="starttls"))
    for _ in range(TRIES):
        with pytest.raises(ImapError):
            await session.connect()
    await none_left(dovecot.port)


async def test_a_connect_cancelled_by_its_caller_closes_its_socket(dovecot: Dovecot) -> None:
    for _ in range(TRIES):
        session = ImapSession(server(dovecot))
        task = asyncio.create_task(session.connect())
        while not sockets_to(dovecot.port) and not task.done():
            await asyncio.sleep(0.001)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        else:  # it was quicker than us: a good connection, closed the polite way
            await session.close()
    await none_left(dovecot.port)
