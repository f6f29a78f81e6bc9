"""The `email` backend (email-forward): each request goes as a well-formed email to any help desk's intake address.

The mail is From our mailbox (so it passes the district's SPF and DMARC), with the requester as
Reply-To, the request's text, its files attached and our route in `X-Intake-*` headers. Follow-ups
of the same conversation are sent In-Reply-To the first mail, so the help desk threads them on its
ticket. Every Message-ID is made from our request id: a retry after a lost SMTP answer sends the
same Message-ID again, which help desks that dedupe on it (Zendesk, Freshdesk, Zammad) drop.

The way back is mail: a requester who wrote from an email address is the Reply-To, and staff answer them
directly; for everyone else (a texter, a Slack or Meta user) the Reply-To is a relay address on a gateway
mailbox, `help+<token>@`, and the mail poller turns the help desk's answers and closing notices there into
status events (workers/backends/email_answers.py).
"""

from __future__ import annotations

import mimetypes
import re
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import ClassVar

import aiosmtplib
from pydantic import BaseModel, Field, field_validator, model_validator

from channels.email.intake import plus_address
from channels.email.send import send_async, tls_context
from gateway.intake.conversations import reply_token_for
from gateway.models import Commitment, InboundMessage, Priority, StatusEvent, TicketStatus, utcnow
from gateway.settings import MailServer, Settings
from gateway.settings.base import Strict
from gateway.store.blob_stores import open_blobs
from gateway.store.blobs import BlobStore
from gateway.web.status_links import short_reference
from workers.backends.base import BaseBackend, StatusSource
from workers.backends.email_answers import HELP_DESK, ClosingRule, answer_events, is_help_desk
from workers.backends.errors import BackendAuthFailed, BackendError, BackendRefused, BackendUnavailable
from workers.backends.http import run_sync
from workers.backends.mapping import FieldMap
from workers.backends.wording import mark

ADDRESS = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
X_PRIORITY = {Priority.URGENT: "1 (Highest)", Priority.HIGH: "2 (High)", Priority.NORMAL: "3 (Normal)",
              Priority.LOW: "5 (Lowest)"}  # fmt: skip


class EmailForwardSettings(Strict):
    """`backends.email`: on when `forward_to` is set (FORWARD_TO)."""

    forward_to: str = Field("", pattern=rf"^$|{ADDRESS}")
    # The channels.email mailbox whose SMTP sends the mail; empty: the email channel's sending mailbox.
    mailbox: str = ""
    # Or a relay of its own, for a district that polls no mailbox: both or neither.
    smtp: MailServer | None = None
    from_address: str = Field("", pattern=rf"^$|{ADDRESS}")
    from_name: str = "District Help Desk"
    map: FieldMap = Field(default_factory=FieldMap)
    # Who may answer on a relay address: the help desk's addresses (`@domain` for all of one); empty: forward_to.
    answers_from: list[str] = Field(default_factory=list)
    closing: ClosingRule = Field(default_factory=ClosingRule)

    @field_validator("answers_from")
    @classmethod
    def _addresses(cls, entries: list[str]) -> list[str]:
        wrong = [e for e in entries if not re.match(HELP_DESK, e.strip())]
        if wrong:
            raise ValueError(f"not an address or @domain: {', '.join(map(repr, wrong))}")
        return entries

    def help_desk(self) -> list[str]:
        return self.answers_from or ([self.forward_to] if self.forward_to else [])

    @model_validator(mode="after")
    def _relay_pair(self) -> EmailForwardSettings:
        if bool(self.smtp) != bool(self.from_address):
            raise ValueError("smtp and from_address go together: the relay and the address it sends from")
        return self


class EmailForwardBackend(BaseBackend):
    name = "email"
    status_source: ClassVar[frozenset[StatusSource]] = frozenset({"mail"})  # answers mailed to a relay address
    answers_status = False  # nothing to ask: what the help desk says reaches us by mail
    settings_model: ClassVar[type[BaseModel] | None] = EmailForwardSettings
    switch_on = "set FORWARD_TO"

    def __init__(self, conf: EmailForwardSettings, server: MailServer | None, sender: str, sender_name: str,
                 loop_stamp: str, blobs: BlobStore | None = None, relay: str = "") -> None:  # fmt: skip
        self.conf = conf
        self.relay = relay  # the gateway mailbox whose plus-addresses stand for the requesters; empty: none
        self.server = server
        self.sender = sender
        self.sender_name = sender_name
        self.loop_stamp = loop_stamp
        self.blobs = blobs

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return bool((settings.backends.section(cls.name) or {}).get("forward_to"))

    @classmethod
    def settings_of(cls, settings: Settings) -> EmailForwardSettings:
        return EmailForwardSettings.model_validate(settings.backends.section(cls.name) or {})

    @classmethod
    def config_problems(cls, settings: Settings) -> list[str]:
        conf = cls.settings_of(settings)
        if conf.smtp:
            return []
        email = settings.channels.email
        name = conf.mailbox or email.sender_mailbox() or ""
        box = email.mailboxes.get(name)
        where = f"{settings.source_file}: key backends.email.mailbox"
        if conf.mailbox and box is None:
            return [f"{where}: no mailbox {conf.mailbox!r} under channels.email.mailboxes"]
        if box is None or box.smtp is None:
            return [f"{where}: nothing sends the forwarded mail: give a channels.email mailbox an smtp server, "
                    "or set backends.email.smtp and from_address"]  # fmt: skip
        return []

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailForwardBackend:
        conf = cls.settings_of(settings)
        email = settings.channels.email
        blobs = open_blobs(settings)
        box = email.mailboxes.get(conf.mailbox or email.sender_mailbox() or "")
        relay = box.address if box else ""
        if conf.smtp:
            return cls(conf, conf.smtp, conf.from_address, conf.from_name, email.loop_stamp, blobs, relay)
        server = box.smtp if box else None
        return cls(conf, server, box.address if box else "", box.display_name if box else conf.from_name,
                   email.loop_stamp, blobs, relay)  # fmt: skip

    # --- the mail ----------------------------------------------------------------------------------

    @property
    def domain(self) -> str:
        return self.sender.rpartition("@")[2] or "intake.invalid"

    def message_id(self, key: str) -> str:
        return f"<intake.{key}@{self.domain}>"

    def compose(self, c: Commitment, key: str, thread_root: str | None, note: str | None = None) -> EmailMessage:
        """The mail for a request (thread_root None) or for a follow-up in the thread of `thread_root`."""
        m, route = c.message, c.route
        who = m.requester
        mapped = self.conf.map.mapped(route, m)
        msg = EmailMessage()
        shown = f"{who.display_name} via {self.sender_name}" if who.display_name and not note else self.sender_name
        msg["From"] = formataddr((shown, self.sender))
        msg["To"] = self.conf.forward_to
        if who.email and not note:
            msg["Reply-To"] = formataddr((who.display_name, who.email))
        elif self.relay and not note:
            # Stands for a requester the help desk cannot mail: what it sends here is relayed on their channel.
            shown = who.display_name or f"Requester {short_reference(m.id)}"
            msg["Reply-To"] = formataddr((shown, plus_address(self.relay, reply_token_for(c.conversation))))
        title = m.subject or m.text.split("\n", 1)[0][:80] or "Request"
        if thread_root is None:
            msg["Subject"] = f"{title} (request {short_reference(m.id)})"
        else:
            msg["Subject"] = f"Re: request {short_reference(thread_root)}: {title}"
            msg["In-Reply-To"] = self.message_id(thread_root)
            msg["References"] = self.message_id(thread_root)
        msg["Date"] = format_datetime(utcnow())
        msg["Message-ID"] = self.message_id(key)
        msg["X-Loop"] = self.loop_stamp
        msg["X-Priority"] = X_PRIORITY[route.priority]
        for header, value in (("Request-Id", m.id), ("Conversation", c.conversation), ("Channel", m.channel),
                              ("Queue", mapped.queue), ("Priority", str(mapped.priority)),
                              ("Category", mapped.category), ("School", mapped.school),
                              ("Language", who.locale), ("Tags", " ".join(route.tags))):  # fmt: skip
            if value:
                msg[f"X-Intake-{header}"] = value
        msg.set_content(note if note is not None else self._body(c, mapped.queue))
        if note is None:
            self._attach(msg, c)
        return msg

    def _body(self, c: Commitment, queue: str) -> str:
        m, who = c.message, c.message.requester
        contact = ", ".join(x for x in (who.email, who.phone) if x) or m.sender
        # Our mark before the signature line: a help desk that echoes this mail to the relay is not news for them.
        lines = [m.text, "", mark(m.id), "--", f"From: {who.display_name or '(no name given)'} <{contact}>"]
        if not who.email and self.relay:
            lines.append(f"Answer by replying to this mail: it reaches them by {m.channel}, in their language.")
        elif not who.email:
            lines.append("No email address: answer them on their channel, not by replying to this mail.")
        lines.append(f"Came in by {m.channel} ({m.account}) on {m.received_at.isoformat(timespec='minutes')}; "
                     f"request {short_reference(m.id)}, queue {queue}, priority {c.route.priority.value}.")  # fmt: skip
        lost = [a for a in m.attachments if not a.kept or not a.storage_key]
        lines += [f"Not attached: {a.filename} ({a.reason or 'not kept'})" for a in lost]
        return "\n".join(lines) + "\n"

    def _attach(self, msg: EmailMessage, c: Commitment) -> None:
        for a in c.message.attachments:
            if not a.kept or not a.storage_key or self.blobs is None:
                continue
            ctype = a.content_type or mimetypes.guess_type(a.filename)[0] or "application/octet-stream"
            maintype, _, subtype = ctype.partition("/")
            msg.add_attachment(self.blobs.get(a.storage_key), maintype=maintype, subtype=subtype or "octet-stream",
                               filename=a.filename)  # fmt: skip

    def _send(self, msg: EmailMessage, action: str) -> None:
        if self.server is None:
            raise BackendRefused(self.name, f"{action}: no SMTP server sends the forwarded mail (backends.email)")
        try:
            run_sync(send_async(msg, self.server, self.sender))
        except BackendError:
            raise
        except Exception as exc:
            raise smtp_error(self.name, action, exc) from None

    # --- the protocol --------------------------------------------------------------------------------

    def create_ticket(self, commitment: Commitment, idempotency_key: str) -> str:
        self._send(self.compose(commitment, idempotency_key, None), "forward")
        return commitment.message.id  # the help desk keeps its own number; ours threads the follow-ups

    def add_comment(self, ref: str, commitment: Commitment, idempotency_key: str, *, public: bool = True) -> str:
        note = (
            None if public else f"A note from the intake gateway, not from the requester:\n\n{commitment.message.text}"
        )
        self._send(self.compose(commitment, idempotency_key, ref, note), "follow-up")
        return idempotency_key

    def link_child(self, parent_ref: str, child_ref: str) -> None:
        return None  # mail has no relation between tickets; the incident's id is in X-Intake headers of new mail

    def set_status(self, ref: str, status: TicketStatus, comment: str | None, actor: str, idempotency_key: str) -> None:
        return None  # a help desk fed by mail keeps its own statuses

    def fetch_status(self, ref: str) -> TicketStatus:
        raise BackendRefused(self.name, "a help desk fed by email reports its status only by mail")

    def from_help_desk(self, sender: str) -> bool:
        return is_help_desk(sender, self.conf.help_desk())

    def mail_events(self, message: InboundMessage, ticket_ref: str, status: TicketStatus) -> list[StatusEvent]:
        return answer_events(self.name, message, ticket_ref, status, self.conf.closing)

    def check(self) -> list[str]:
        if self.server is None:
            return ["no SMTP server sends the forwarded mail: see backends.email"]
        try:
            run_sync(smtp_login(self.server))
        except Exception as exc:
            return [f"SMTP {self.server.host}:{self.server.port}: {smtp_error(self.name, 'login', exc).message}"]
        return []


async def smtp_login(server: MailServer) -> None:
    """Connect, say EHLO (and STARTTLS), log in when the server takes a user, and quit: no mail sent."""
    client = aiosmtplib.SMTP(hostname=server.host, port=server.port, timeout=server.timeout_s,
                             use_tls=server.security == "tls", start_tls=server.security == "starttls",
                             tls_context=tls_context(server) if server.security != "none" else None)  # fmt: skip
    async with client:
        if server.user:
            await client.login(server.user, server.password.get_secret_value())


def smtp_error(backend: str, action: str, exc: BaseException) -> BackendError:
    """An SMTP failure by kind: refused credentials, a permanent refusal (5xx), or a relay that is away."""
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return BackendAuthFailed(backend, f"{action}: the SMTP server refused the login ({exc.code})")
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = sorted({r.code for r in exc.recipients})
        words = "; ".join(r.message for r in exc.recipients)[:200]
        kind = BackendRefused if all(c >= 500 for c in codes) else BackendUnavailable
        return kind(backend, f"{action}: FORWARD_TO was refused ({', '.join(map(str, codes))} {words})")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        kind = BackendRefused if exc.code >= 500 else BackendUnavailable
        return kind(backend, f"{action}: the SMTP server answered {exc.code} {exc.message[:200]}")
    return BackendUnavailable(backend, f"{action}: {type(exc).__name__}")
