"""A local stand-in for the Slack Web API (https://docs.slack.dev/reference/methods), and signing helpers.

It speaks the documented wire format of the methods we call: `POST|GET <base>/<method>` with a bearer
token, arguments as JSON, a form or a query string, and an `{"ok": ...}` JSON answer. Every call is
recorded. Faults can be scripted per method: a 429 with Retry-After (Slack's rate-limit answer) or
a 5xx. It runs on its own thread and loop, so a test can block on a worker process while it answers.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from slack_sdk.signature import SignatureVerifier

TEAM = "T0DISTRICT"
BOT_TOKEN = "xoxb-test-bot-token-5e1f"
SIGNING_SECRET = "slack-signing-secret-for-tests-8c2a"
BOT_USER = "U0HELPDESK"
USER = "U0TEACHER1"
USER_EMAIL = "ana.perez@district.example.org"
USER_NAME = "Ana Pérez"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str
    at: float


@dataclass
class SlackAPI:
    calls: list[Call] = field(default_factory=list)
    faults: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    hangs: dict[str, list[float]] = field(default_factory=dict)  # method -> delays before the next answers
    threads: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    port: int = 0
    locale: str = "en-US"  # users.info's user.locale (sent when include_locale is true)
    _ts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def fail(self, method: str, *answers: tuple[int, dict[str, str]]) -> None:
        """The next calls of `method` get these (status, headers) answers, in order, before succeeding."""
        with self._lock:
            self.faults.setdefault(method, []).extend(answers)

    def hang(self, method: str, seconds: float) -> None:
        """The next call of `method` does its work (a post is posted) but is answered only after `seconds`:
        a Slack that took the call and then went quiet."""
        with self._lock:
            self.hangs.setdefault(method, []).append(seconds)

    def called(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        raw = await request.read()
        if raw:
            if request.content_type == "application/json":
                args.update(json.loads(raw))
            else:
                args.update(dict(await request.post()))
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with self._lock:
            self.calls.append(Call(method, args, token, time.monotonic()))
            queued = self.faults.get(method) or []
            fault = queued.pop(0) if queued else None
        if fault is not None:
            status, headers = fault
            if status == 429:
                return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers=headers)
            return web.Response(status=status, text="upstream unavailable", headers=headers)
        if token != BOT_TOKEN and not token.startswith("xoxb-other"):
            return web.json_response({"ok": False, "error": "invalid_auth"})
        answer = self._answer(method, args, token)
        with self._lock:
            delays = self.hangs.get(method) or []
            delay = delays.pop(0) if delays else 0.0
        await asyncio.sleep(delay)
        return web.json_response(answer)

    def _answer(self, method: str, args: dict[str, Any], token: str) -> dict[str, Any]:
        if method == "chat.postMessage":
            with self._lock:
                self._ts += 1
                ts = f"1700000100.{self._ts:06d}"
            channel = str(args["channel"])
            if channel.startswith("U"):
                channel = "D" + channel[1:]  # posting to a user id lands in the app's DM with them
            meta = args.get("metadata")
            message = {"type": "message", "ts": ts, "text": args.get("text", ""), "bot_id": "B0HELPDESK",
                       "metadata": json.loads(meta) if isinstance(meta, str) else meta}  # fmt: skip
            root = str(args.get("thread_ts") or ts)
            with self._lock:
                self.threads.setdefault((channel, root), []).append(message)
            return {"ok": True, "channel": channel, "ts": ts, "message": message}
        if method == "conversations.replies":
            with self._lock:
                messages = list(self.threads.get((str(args["channel"]), str(args["ts"])), []))
            return {"ok": True, "messages": messages, "has_more": False}
        if method == "auth.test":
            team = TEAM if token == BOT_TOKEN else "T0OTHERDST"
            return {"ok": True, "team_id": team, "user_id": BOT_USER, "bot_id": "B0HELPDESK", "user": "helpdesk"}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(args["users"])[1:]}}
        if method == "conversations.history":
            with self._lock:
                channel = str(args["channel"])
                tops = [m for (c, root), msgs in self.threads.items() if c == channel for m in msgs if m["ts"] == root]
            return {"ok": True, "messages": sorted(tops, key=lambda m: m["ts"], reverse=True), "has_more": False}
        if method == "users.info":
            profile = {"email": USER_EMAIL, "display_name": USER_NAME, "real_name": USER_NAME}
            user = {"id": args["user"], "team_id": TEAM, "real_name": USER_NAME, "profile": profile}
            if args.get("include_locale") in (True, "true", "1", 1):
                user["locale"] = self.locale
            return {"ok": True, "user": user}
        if method == "views.open":
            return {"ok": True, "view": {"id": "V0MODAL01", "type": "modal"}}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": "1700000200.000001"}
        if method == "files.info":
            return {"ok": True, "file": {"id": args.get("file"), "name": "photo.jpg", "mimetype": "image/jpeg"}}
        return {"ok": False, "error": "unknown_method"}

    def start(self) -> SlackAPI:
        ready = threading.Event()

        async def serve() -> None:
            app = web.Application()
            app.router.add_route("*", "/api/{method}", self._handle)
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(serve())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert ready.wait(10)
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()


def signed_headers(
    body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None, content_type: str = "application/json"
) -> dict[str, str]:
    """Headers Slack would send, signed with the official SDK's SignatureVerifier."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    sig = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body.decode())
    assert sig is not None
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}


def form_body(fields: dict[str, str]) -> bytes:
    return urlencode(fields).encode()


def interactive_body(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def slack_config(api: SlackAPI, **extra: Any) -> dict[str, Any]:
    """The `channels.slack` block of a test config: one workspace pinned to TEAM."""
    return {
        "signing_secret": SIGNING_SECRET,
        "bot_token": BOT_TOKEN,
        "team_id": TEAM,
        "bot_user_id": BOT_USER,
        "api_url": api.url,
        "channel_interval_s": 0.2,
        **extra,
    }
