"""Every way a connection to the mail server can fail closes our socket: a poller retrying a wrong password
for a weekend must not hold one socket per try (nor leave them for the garbage collector to find)."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import SecretStr

from gateway.mail.imap import ImapError, ImapSession, LoginFailed
from gateway.settings import MailServer
from tests.mail_fixtures import IMAP_PASSWORD, IMAP_USER
from tests.support.dovecot import Dovecot
from tests.support.sockets import sockets_to

TRIES = 5
DEADLINE_S = 60.0


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
