"""Sending over SMTP with aiosmtplib. Failures raise: the reply job retries, then dead-letters."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from email.message import EmailMessage

import aiosmtplib

from gateway.settings import MailServer


def tls_context(server: MailServer) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if server.ca_file:
        ctx.load_verify_locations(server.ca_file)
    return ctx


async def send_async(
    msg: EmailMessage, server: MailServer, envelope_from: str, accepted: Callable[[], object] | None = None
) -> None:
    """`accepted` runs as soon as the relay has taken the message (its 250 after DATA), before QUIT: from then on
    the mail is on its way, whatever becomes of the session or of this process."""
    password = server.password.get_secret_value()
    client = aiosmtplib.SMTP(
        hostname=server.host,
        port=server.port,
        username=server.user or None,
        password=password if server.user else None,
        use_tls=server.security == "tls",
        start_tls=server.security == "starttls",
        tls_context=tls_context(server) if server.security != "none" else None,
        timeout=server.timeout_s,
    )
    async with client:  # QUIT on the way out; its failure is ignored (the message was taken already)
        await client.send_message(msg, sender=envelope_from)
        if accepted is not None:
            accepted()


def send(
    msg: EmailMessage, server: MailServer, envelope_from: str, accepted: Callable[[], object] | None = None
) -> None:
    """Blocking send, for rq jobs (which are synchronous)."""
    asyncio.run(send_async(msg, server, envelope_from, accepted))
