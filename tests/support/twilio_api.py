"""A local stand-in for Twilio's REST API, speaking its documented wire format, recording every request.

Runs an aiohttp server on 127.0.0.1, port 0, over https with a certificate from a test CA (trustme), on
its own thread and loop: the gateway's workers are separate processes that call it while the test
waits on them. Implements what the gateway uses: Messages create (201 JSON with a sid) and list,
Media GET and DELETE, Recordings GET and DELETE; plus scripted failures (429, 5xx, a send that is
created but answered with a 5xx, permanent error codes) and redirects, for the fault tests.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import ssl
import threading
from dataclasses import dataclass, field
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import trustme
from aiohttp import web

from gateway.models import utcnow

API = "/2010-04-01/Accounts/{account}"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    authorized: bool


@dataclass
class Failure:
    status: int
    code: int = 0
    create_anyway: bool = False  # the message is created, but the answer is lost (an ambiguous failure)
    delay_s: float = 0.0  # answer only after this long; Failure(201, delay_s=...) is a success that comes too late


@dataclass
class TwilioStandIn:
    account_sid: str
    auth_token: str
    ca_dir: Path
    requests: list[Recorded] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)  # consumed one per Messages create
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path -> (bytes, content type)
    # Consumed one per media GET: an error status, or a delay_s that outlasts the fetcher's timeout (a hang).
    media_failures: list[Failure] = field(default_factory=list)
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location
    next_sids: list[str] = field(default_factory=list)  # the sids the next created messages get
    port: int = 0

    def __post_init__(self) -> None:
        self.ca = trustme.CA()
        self.ca_file = self.ca_dir / "twilio-test-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def media_url(self, message_sid: str, media_sid: str) -> str:
        return f"{self.base_url}{API.format(account=self.account_sid)}/Messages/{message_sid}/Media/{media_sid}"

    def add_media(self, message_sid: str, media_sid: str, data: bytes, content_type: str) -> str:
        url = self.media_url(message_sid, media_sid)
        self.media[url.removeprefix(self.base_url)] = (data, content_type)
        return url

    def recording_url(self, recording_sid: str, data: bytes) -> str:
        path = f"{API.format(account=self.account_sid)}/Recordings/{recording_sid}"
        self.media[path] = (data, "audio/x-wav")
        return self.base_url + path

    def created(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/Messages.json")]

    def deleted(self) -> list[str]:
        return [r.path for r in self.requests if r.method == "DELETE"]

    # --- server ---------------------------------------------------------------------------------

    def start(self) -> TwilioStandIn:
        threading.Thread(target=self._serve, name="twilio-stand-in", daemon=True).start()
        if not self._ready.wait(10):
            raise RuntimeError("the Twilio stand-in did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        loop = self._loop
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        loop.run_until_complete(self._start())
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def _authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        form = {k: str(v) for k, v in (await request.post()).items()} if request.method == "POST" else {}
        ok = self._authorized(request)
        self.requests.append(Recorded(request.method, request.path, dict(request.query), form, ok))
        if request.path in self.redirects:
            raise web.HTTPFound(self.redirects[request.path])
        if not ok:
            return _error(401, 20003, "Authenticate")
        messages = API.format(account=self.account_sid) + "/Messages.json"
        if request.path == messages and request.method == "POST":
            delay = self.failures[0].delay_s if self.failures else 0.0
            answer = self._create(form)
            await asyncio.sleep(delay)
            return answer
        if request.path == messages and request.method == "GET":
            return self._list(request.query.get("To", ""))
        path = request.path.removesuffix(".json")
        if request.method == "DELETE":
            return web.Response(status=204) if self.media.pop(path, None) else _error(404, 20404, "Not found")
        if path in self.media:
            if self.media_failures:
                failure = self.media_failures.pop(0)
                await asyncio.sleep(failure.delay_s)
                if failure.status >= 400:
                    return _error(failure.status, failure.code, "Service Unavailable")
            data, ctype = self.media[path]
            return web.Response(body=data, content_type=ctype)
        return _error(404, 20404, "Not found")

    def _create(self, form: dict[str, str]) -> web.Response:
        failure = self.failures.pop(0) if self.failures else None
        failed = failure is not None and failure.status >= 400  # a 201 with a delay: a slow success
        if failure is not None and failed and not failure.create_anyway:
            return _error(failure.status, failure.code or 20500, "scripted failure")
        sid = self.next_sids.pop(0) if self.next_sids else "SM" + secrets.token_hex(16)
        now = format_datetime(utcnow())
        message = {
            "sid": sid, "account_sid": self.account_sid, "to": form.get("To"), "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"), "body": form.get("Body"),
            "status": "queued", "direction": "outbound-api", "num_segments": "1", "num_media": "0",
            "date_created": now, "date_updated": now, "date_sent": now, "api_version": "2010-04-01",
            "error_code": None, "error_message": None, "price": None, "price_unit": "USD",
            "uri": f"{API.format(account=self.account_sid)}/Messages/{sid}.json", "subresource_uris": {},
        }  # fmt: skip
        self.messages.append(message)
        if failure is not None and failed:
            return _error(failure.status, failure.code or 20500, "scripted failure after create")
        return web.json_response(message, status=201)

    def _list(self, to: str) -> web.Response:
        found = [m for m in self.messages if not to or m["to"] == to]
        uri = f"{API.format(account=self.account_sid)}/Messages.json"
        return web.json_response({
            "messages": found, "end": max(len(found) - 1, 0), "first_page_uri": uri, "next_page_uri": None,
            "page": 0, "page_size": 50, "previous_page_uri": None, "start": 0, "uri": uri,
        })  # fmt: skip


def _error(status: int, code: int, message: str) -> web.Response:
    body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}  # fmt: skip
    return web.json_response(body, status=status)
