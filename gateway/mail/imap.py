"""A small IMAP session on aioimaplib: connect (TLS, STARTTLS or plain), log in, select, fetch by UID, move.

aioimaplib lists STARTTLS among its commands but has no method for it, so the upgrade is done here:
send STARTTLS, then hand the live transport to `loop.start_tls` and ask for capabilities again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from aioimaplib import aioimaplib

from gateway.settings import MailServer
from gateway.tasks import cancel_and_wait

T = TypeVar("T")

# aioimaplib logs every byte it receives at DEBUG: whole messages, a family's words included.
# Never let it, whatever level the operator chooses.
logging.getLogger("aioimaplib").setLevel(logging.WARNING)

_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_FETCH_HEAD = re.compile(rb"^\d+ FETCH \(")
_UID = re.compile(rb"UID (\d+)")
_LITERAL = re.compile(rb"\{(\d+)\}$")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


class ImapError(Exception):
    """The server refused something or the connection broke: the poller reconnects."""


class LoginFailed(ImapError):
    pass


@dataclass(frozen=True)
class Selected:
    uidvalidity: int
    exists: int


class _UidFetch(aioimaplib.FetchCommand):  # type: ignore[misc]  # aioimaplib ships no type hints
    """aioimaplib's UID FETCH without two costs that grow with a batch: after each line received, its `wait_data`
    joins and scans every line received since the command began (quadratic: a tenth of the poller's CPU with
    batches of 100), and each line re-arms the command's timer (`_call` keeps the deadline instead). It answers as
    aioimaplib's does: are the parentheses of the latest `n FETCH (` line, and of the lines after it, balanced."""

    def __init__(self, tag: str, uid_set: str, items: str, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(tag, uid_set, items, prefix="UID", loop=loop, timeout=None)
        self._open = 0  # "(" less ")" since the latest FETCH line (literal data is not counted)

    def append_to_resp(self, line: bytes, result: str = "Pending") -> None:
        super().append_to_resp(line, result)
        if isinstance(line, bytes):
            opened = line.count(b"(") - line.count(b")")
            self._open = opened if self.FETCH_MESSAGE_DATA_RE.match(line) else self._open + opened

    def wait_data(self) -> bool:
        return self._open != 0


def _ok(resp: aioimaplib.Response, what: str) -> aioimaplib.Response:
    if resp.result != "OK":
        raise ImapError(f"{what} refused: {resp.result}")
    return resp


class ImapSession:
    def __init__(self, server: MailServer) -> None:
        self.server = server
        self.client: aioimaplib.IMAP4 | None = None
        self._lost = asyncio.Event()
        self._turn = asyncio.Lock()

    async def _call(self, what: str, aw: Awaitable[T], limit_s: float | None = None) -> T:
        """Every command races a timeout and the connection: aioimaplib leaves a command waiting
        forever when the server goes away mid-command (and passes no timeout to MOVE, COPY, STORE).

        One command at a time, in the order asked: the poller fetches the next batch while it moves the one
        before, and a command given up on (timed out, cancelled) never shares the connection with another."""
        async with self._turn:
            return await self._one(what, aw, limit_s)

    async def _one(self, what: str, aw: Awaitable[T], limit_s: float | None) -> T:
        task = asyncio.ensure_future(aw)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            done, _ = await asyncio.wait({task, lost}, timeout=limit_s or self.server.timeout_s,
                                         return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        except asyncio.CancelledError:
            task.cancel()  # never leave a command running on its own after its caller has gone
            raise
        finally:
            lost.cancel()
        if task in done:
            return task.result()
        await cancel_and_wait(task)
        raise ImapError(f"{what}: {'connection lost' if self._lost.is_set() else 'timed out'}")

    @property
    def imap(self) -> aioimaplib.IMAP4:
        if self.client is None:
            raise ImapError("not connected")
        return self.client

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if self.server.ca_file:
            ctx.load_verify_locations(self.server.ca_file)
        return ctx

    async def connect(self) -> None:
        s = self.server
        self._lost = asyncio.Event()
        if s.security == "tls":
            self.client = aioimaplib.IMAP4_SSL(s.host, s.port, timeout=s.timeout_s, ssl_context=self._context())
        else:
            self.client = aioimaplib.IMAP4(s.host, s.port, timeout=s.timeout_s)
        # Each connection sets its own event: the one before it, closed just now, reports its loss a turn later.
        lost = self._lost
        self.client.protocol.conn_lost_cb = lambda exc: lost.set()
        try:
            await self.imap.wait_hello_from_server()
            if s.security == "starttls":
                await self._starttls()
            await self._login()
        except BaseException as exc:
            # Whatever stopped us (a refused login, a server without STARTTLS, a timeout, our caller's
            # cancellation), the socket is ours to close: a poller retrying bad credentials leaked one a try.
            self._drop()
            if isinstance(exc, (TimeoutError, OSError, aioimaplib.AioImapException)):
                raise ImapError(f"connect failed: {type(exc).__name__}") from exc
            raise

    async def _starttls(self) -> None:
        proto = self.imap.protocol
        if "STARTTLS" not in proto.capabilities:
            raise ImapError("server does not offer STARTTLS")
        command = aioimaplib.Command("STARTTLS", proto.new_tag(), loop=asyncio.get_running_loop())
        _ok(await self._call("STARTTLS", proto.execute(command)), "STARTTLS")
        loop = asyncio.get_running_loop()
        transport = await loop.start_tls(proto.transport, proto, self._context(), server_hostname=self.server.host)
        proto.transport = transport
        await proto.capability()

    async def _login(self) -> None:
        s = self.server
        token = s.oauth2_token.get_secret_value()
        if token:
            resp = await self._call("AUTHENTICATE", self.imap.xoauth2(s.user, token.encode()))
        else:
            resp = await self._call("LOGIN", self.imap.login(s.user, s.password.get_secret_value()))
        if resp.result != "OK":
            raise LoginFailed("login refused")

    @property
    def capabilities(self) -> set[str]:
        return set(self.imap.protocol.capabilities)

    async def ensure_folder(self, name: str) -> None:
        resp = await self._call("CREATE", self.imap.create(name))
        if resp.result == "OK":
            return
        said = b" ".join(bytes(x) for x in resp.lines).upper()
        # An existing folder is what we want; anything else (a name the server refuses) is a config error.
        if b"ALREADYEXISTS" not in said and b"ALREADY EXISTS" not in said:
            raise ImapError(f"cannot create folder {name!r}: {said[:120].decode(errors='replace')}")

    async def select(self, folder: str) -> Selected:
        resp = _ok(await self._call("SELECT", self.imap.select(folder)), "SELECT")
        validity = exists = 0
        for line in resp.lines:
            if not isinstance(line, bytes | bytearray):
                continue
            if m := _UIDVALIDITY.search(line):
                validity = int(m.group(1))
            if line.endswith(b" EXISTS"):
                exists = int(line.split()[0])
        if not validity:
            raise ImapError("SELECT gave no UIDVALIDITY")
        return Selected(validity, exists)

    async def uids_after(self, last_uid: int) -> list[int]:
        search = self.imap.uid_search("UID", f"{last_uid + 1}:*", charset=None)
        resp = _ok(await self._call("UID SEARCH", search), "UID SEARCH")
        uids: list[int] = []
        for line in resp.lines[:-1]:
            uids.extend(int(tok) for tok in bytes(line).split() if tok.isdigit())
        # "n:*" always matches the highest UID, even when it is below n.
        return sorted(u for u in set(uids) if u > last_uid)

    async def sizes(self, uids: list[int]) -> dict[int, int]:
        """RFC822.SIZE by UID: what each message would cost to download, asked before downloading any.
        A UID missing from the answer was expunged meanwhile."""
        if not uids:
            return {}
        resp = _ok(await self._call("UID FETCH", self._uid_fetch(uids, "(UID RFC822.SIZE)")), "UID FETCH")
        out: dict[int, int] = {}
        for line in resp.lines:
            if isinstance(line, bytes | bytearray) and _FETCH_HEAD.match(line):
                uid, size = _UID.search(line), _SIZE.search(line)
                if uid and size:
                    out[int(uid.group(1))] = int(size.group(1))
        return out

    async def fetch(self, uids: list[int]) -> dict[int, bytes]:
        """Raw messages by UID, with BODY.PEEK[] so the \\Seen flag is never set."""
        if not uids:
            return {}
        fetch = self._uid_fetch(uids, "(UID BODY.PEEK[])")
        # A batch of large messages may take a while to arrive: allow a minute per hundred.
        resp = _ok(await self._call("UID FETCH", fetch, self.server.timeout_s * max(1, len(uids) / 100)), "UID FETCH")
        out: dict[int, bytes] = {}
        lines = resp.lines
        i = 0
        while i < len(lines):
            head = lines[i]
            if isinstance(head, bytes) and _FETCH_HEAD.match(head) and _LITERAL.search(head) and i + 1 < len(lines):
                body = bytes(lines[i + 1])
                tail = lines[i + 2] if i + 2 < len(lines) else b""
                m = _UID.search(head) or _UID.search(bytes(tail))
                if m:
                    out[int(m.group(1))] = body
                i += 2
                continue
            i += 1
        return out

    async def _uid_fetch(self, uids: list[int], items: str) -> aioimaplib.Response:
        proto = self.imap.protocol
        if proto.state != aioimaplib.SELECTED:  # as aioimaplib's own uid() refuses it
            raise aioimaplib.Abort(f"command UID illegal in state {proto.state}")
        loop = asyncio.get_running_loop()
        response: aioimaplib.Response = await proto.execute(
            _UidFetch(proto.new_tag(), ",".join(map(str, uids)), items, loop)
        )
        return response

    async def move(self, uids: list[int], folder: str) -> None:
        if not uids:
            return
        uid_set = ",".join(map(str, uids))
        if "MOVE" in self.capabilities:
            _ok(await self._call("UID MOVE", self.imap.uid("move", uid_set, folder)), "UID MOVE")
            return
        # No MOVE: copy, flag deleted, and expunge only these UIDs (UIDPLUS), never other people's deletions.
        _ok(await self._call("UID COPY", self.imap.uid("copy", uid_set, folder)), "UID COPY")
        store = self.imap.uid("store", uid_set, "+FLAGS.SILENT", r"(\Deleted)")
        _ok(await self._call("UID STORE", store), "UID STORE")
        if "UIDPLUS" in self.capabilities:
            _ok(await self._call("UID EXPUNGE", self.imap.uid("expunge", uid_set)), "UID EXPUNGE")
        else:
            _ok(await self._call("EXPUNGE", self.imap.expunge()), "EXPUNGE")

    async def wait_for_news(self, seconds: float) -> bool:
        """IDLE until the server reports a change or `seconds` pass (the polling safety net). True on a change."""
        if "IDLE" not in self.capabilities:
            await asyncio.sleep(seconds)
            return True
        idle = await self._call("IDLE", self.imap.idle_start(timeout=seconds + 30))
        try:
            pushed = await self._call("IDLE", self.imap.wait_server_push(timeout=seconds), seconds + 1)
            changed = any(b"EXISTS" in bytes(p) for p in pushed) if isinstance(pushed, list) else False
        except TimeoutError:
            changed = False  # a quiet mailbox: aioimaplib says so with a bare TimeoutError
        except ImapError:
            if self._lost.is_set():
                raise
            changed = False  # the polling safety net: nothing pushed in time, look anyway
        finally:
            # Not self.imap: raising "not connected" here would turn a cancellation into an ImapError.
            if self.client is not None and not self._lost.is_set():
                self.client.idle_done()
        await self._call("DONE", idle)
        return changed

    async def noop(self) -> None:
        _ok(await self._call("NOOP", self.imap.noop()), "NOOP")

    async def close(self) -> None:
        client = self.client
        if client is None:
            return
        try:
            with contextlib.suppress(TimeoutError, OSError, aioimaplib.AioImapException):
                await asyncio.wait_for(client.logout(), 2)
        finally:
            # A server that already dropped us never answers LOGOUT, and a caller may give up waiting for it:
            # close the socket ourselves, or every reconnect after a server-side drop leaks one.
            self._drop()

    def _drop(self) -> None:
        """Close our end of the connection now, without a word to the server."""
        client, self.client = self.client, None
        transport = client.protocol.transport if client is not None else None
        if transport is not None and not transport.is_closing():
            transport.close()
