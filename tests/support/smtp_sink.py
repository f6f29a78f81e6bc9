"""A real SMTP server for a test (aiosmtpd on 127.0.0.1) that keeps every message it accepts.

It runs in a thread of the test process, but it is a TCP server: code under test in another
process (an rq worker, `intake up`) sends to it like to any relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import hmac
import logging
import socket
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.dovecot import self_signed_cert
from tests.support.redis_server import free_port


@dataclass(frozen=True)
class ReceivedMail:
    """One accepted message: its envelope, its bytes as sent, and those bytes parsed."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage
    login: str | None
    """The AUTH user the client logged in as, if it did."""
    tls: bool
    """Whether the message came over STARTTLS."""


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.sink.credentials is None:  # aiosmtpd would advertise an empty "AUTH" line
            return [line for line in responses if not line.startswith("250-AUTH")]
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        # Checked here rather than with aiosmtpd's auth_required, which warns (an error under
        # filterwarnings=error) when AUTH is required without TLS.
        if self.sink.credentials is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return self.sink._receive(session, envelope)

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await self.sink._quit()
        return "221 Bye"


# The stand-in server's own DEBUG log prints every line it receives; it plays the district's relay,
# not the gateway, so it must not pollute the gateway's log checks (tests/test_privacy.py).
logging.getLogger("mail.log").setLevel(logging.WARNING)


class SmtpSink:
    """An SMTP server on 127.0.0.1 that records what it accepts and fails or goes down on demand.

    `credentials=(user, password)` offers AUTH PLAIN and LOGIN and refuses MAIL until the client has
    logged in. `starttls=True` offers STARTTLS with a self-signed certificate and refuses MAIL before
    it; AUTH is then offered only after STARTTLS, as on a real relay. `ssl_context()` trusts it.
    """

    host = "127.0.0.1"

    def __init__(
        self, *, port: int | None = None, credentials: tuple[str, str] | None = None, starttls: bool = False
    ) -> None:
        self.port = port or free_port()
        self.credentials = credentials
        self.starttls = starttls
        self._cert_pem: str | None = None
        self._tls_context: ssl.SSLContext | None = None
        if starttls:
            with tempfile.TemporaryDirectory() as tmp:
                cert, key = self_signed_cert(Path(tmp))
                self._tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                self._tls_context.load_cert_chain(cert, key)
                self._cert_pem = cert.read_text()
        self._changed = threading.Condition()
        self._messages: list[ReceivedMail] = []
        self._failures: list[str] = []
        self._attempts = 0
        self._controller: Controller | None = None
        self._silent: socket.socket | None = None
        self._stalled: list[socket.socket] = []
        self._holding_quits = False
        self._quits_held = 0

    # -- lifecycle -------------------------------------------------------------------------------

    def up(self) -> None:
        """Accept connections on `port` (again, after `down()` or `hang()`)."""
        self._stop_hanging()
        assert self._controller is None, "SMTP sink already up"
        controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            server_hostname="smtp-sink.test",  # else aiosmtpd asks DNS for the FQDN
            ready_timeout=5,
            tls_context=self._tls_context,
            require_starttls=self.starttls,
            auth_require_tls=self.starttls,
            authenticator=self._authenticate,
            auth_exclude_mechanism=[] if self.credentials else ["LOGIN", "PLAIN"],
        )
        controller.start()
        self._controller = controller

    def down(self) -> None:
        """Close the port and drop open sessions, as a relay that goes away. Messages stay recorded."""
        self._stop_hanging()
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def hang(self) -> None:
        """Take connections on `port` and never say a word, as a relay that stalls before its greeting."""
        self.down()
        self._silent = socket.create_server((self.host, self.port), backlog=16)
        threading.Thread(target=self._hold, args=(self._silent,), daemon=True).start()

    @property
    def stalled_connections(self) -> int:
        """Connections taken while hanging."""
        with self._changed:
            return len(self._stalled)

    def _hold(self, server: socket.socket) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:  # closed by _stop_hanging
                return
            with self._changed:
                self._stalled.append(conn)

    def _stop_hanging(self) -> None:
        if self._silent is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would leave the port listening.
            with contextlib.suppress(OSError):
                self._silent.shutdown(socket.SHUT_RDWR)
            self._silent.close()
            self._silent = None
        with self._changed:
            for conn in self._stalled:
                conn.close()

    @property
    def is_up(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> SmtpSink:
        self.up()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.down()

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting this server's certificate (`starttls=True` only)."""
        assert self._cert_pem is not None, "SmtpSink(starttls=True) has a certificate"
        return ssl.create_default_context(cadata=self._cert_pem)

    # -- behaviour -------------------------------------------------------------------------------

    def fail_next(self, count: int, code: int = 451, text: str | None = None) -> None:
        """Answer the next `count` messages' DATA with `code` (4xx: try again later; 5xx: rejected)."""
        text = text or ("4.3.0 Try again later" if code < 500 else "5.7.1 Rejected")
        with self._changed:
            self._failures.extend([f"{code} {text}"] * count)

    def hold_quits(self) -> None:
        """Leave every QUIT unanswered until `release_quits()`: the client's message was taken (250 after DATA),
        and it waits for its session to end, as a sender does when it dies just after a send."""
        with self._changed:
            self._holding_quits = True

    def release_quits(self) -> None:
        with self._changed:
            self._holding_quits = False

    @property
    def held_quits(self) -> int:
        """QUITs received while held (answered or not since)."""
        with self._changed:
            return self._quits_held

    async def _quit(self) -> None:
        with self._changed:
            holding = self._holding_quits
            self._quits_held += holding
        while holding:
            await asyncio.sleep(0.05)
            with self._changed:
                holding = self._holding_quits

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert self.credentials is not None
        user, password = (part.encode() for part in self.credentials)
        good = (
            isinstance(data, LoginPassword)
            and hmac.compare_digest(data.login, user)
            and hmac.compare_digest(data.password, password)
        )
        return AuthResult(success=good, handled=False, auth_data=data if good else None)

    def _receive(self, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        mail = ReceivedMail(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            raw=raw,
            message=email.message_from_bytes(raw, _class=EmailMessage, policy=email.policy.default),
            login=login,
            tls=session.ssl is not None,
        )
        with self._changed:
            self._attempts += 1
            if self._failures:
                return self._failures.pop(0)
            self._messages.append(mail)
            self._changed.notify_all()
        return "250 2.0.0 OK: queued"

    # -- what it received ------------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMail]:
        """The accepted messages so far, oldest first (a copy)."""
        with self._changed:
            return list(self._messages)

    @property
    def attempts(self) -> int:
        """How many messages clients sent to the end of DATA, failed ones included."""
        with self._changed:
            return self._attempts

    def wait_for(self, count: int = 1, timeout: float = 60) -> list[ReceivedMail]:
        """Block until at least `count` messages were accepted; for senders in other threads or processes."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self._messages)} of {count} messages after {timeout} s")
                self._changed.wait(left)
            return list(self._messages)

    def clear(self) -> None:
        with self._changed:
            self._messages.clear()
            self._failures.clear()
            self._attempts = 0
