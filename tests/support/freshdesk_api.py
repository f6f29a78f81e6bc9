"""A local stand-in for Freshdesk's API v2 and its automation webhooks (tests/payloads/freshdesk/NOTES.md).

It keeps tickets, conversations and contacts in memory, answers in Freshdesk's shapes, checks basic auth with the
API key, and counts every call in windows of `window_s` seconds against the account's `allowance`: each answer
carries `X-RateLimit-Total`/`-Remaining`, and a call past the allowance is answered 429 with `Retry-After`
(`window_counts` keeps what was served per window, for a test to measure). Its filter API lags its writes by
`index_delay_s`, as Freshdesk's index does; its list of tickets never does. It plays the agents too:
`agent_reply` and `set_status` change a ticket and POST the automation rules' webhooks with the secret header.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.helpdesk import HelpDesk, Sent, fixed, form_parts, payload

GROUPS = {"Transportation": 5001, "IT Help": 5002, "Front Office": 5003}
FIELDS = ["cf_intake_request", "cf_school"]
STATUS_NAMES = {2: "Open", 3: "Pending", 4: "Resolved", 5: "Closed"}
QUERY = re.compile(r"^\"?(\w+):'([^']*)'\"?$")


@dataclass
class Ticket:
    data: dict[str, Any]
    made_at: float = field(default_factory=time.monotonic)
    conversations: list[dict[str, Any]] = field(default_factory=list)
    files: list[tuple[str, str, bytes]] = field(default_factory=list)

    @property
    def id(self) -> int:
        return int(self.data["id"])


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _invalid(field_name: str, message: str, code: str = "invalid_value") -> web.Response:
    body = {"description": "Validation failed", "errors": [{"field": field_name, "message": message, "code": code}]}
    return web.json_response(body, status=400)


class FreshdeskStandIn(HelpDesk):
    name = "freshdesk"

    def __init__(self, api_key: str, secret: str, ca_dir: Path, allowance: int = 400, window_s: float = 60.0) -> None:
        super().__init__(ca_dir)
        self.api_key = api_key
        self.secret = secret
        self.allowance = allowance
        self.window_s = window_s
        self.window_counts: dict[int, int] = {}
        self.refused_for_rate = 0
        self.started = time.monotonic()
        self.tickets: dict[int, Ticket] = {}
        self.contacts: dict[int, dict[str, Any]] = {}
        self.index_delay_s = 0.0
        self.webhook_header = "X-Intake-Token"
        self._conversation_id = 9000

    def authorized(self, request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        if not given.startswith("Basic "):
            return False
        user, _, _ = base64.b64decode(given[6:]).decode().partition(":")
        return user == self.api_key

    def error(self, status: int, message: str) -> web.Response:
        if status == 401:
            body = {"code": "invalid_credentials", "message": "You have to be logged in to perform this action."}
            return web.json_response(body, status=401)
        return web.json_response({"code": "error", "message": message}, status=status)

    # --- the allowance -------------------------------------------------------------------------------------

    def _window(self) -> int:
        return int((time.monotonic() - self.started) // self.window_s)

    def refuse(self, request: web.Request) -> web.StreamResponse | None:
        with self.lock:
            window = self._window()
            used = self.window_counts.get(window, 0)
            if used >= self.allowance:
                self.refused_for_rate += 1
                left = (window + 1) * self.window_s - (time.monotonic() - self.started)
                headers = {"Retry-After": str(max(1, math.ceil(left)))}
                return web.json_response({"code": "rate_limited", "message": "Too many requests"}, status=429,
                                         headers=headers)  # fmt: skip
            self.window_counts[window] = used + 1
        return None

    def answer_headers(self, request: web.Request) -> dict[str, str]:
        with self.lock:
            used = self.window_counts.get(self._window(), 0)
        return {"X-RateLimit-Total": str(self.allowance), "X-RateLimit-Remaining": str(max(0, self.allowance - used)),
                "X-RateLimit-Used-CurrentRequest": "1"}  # fmt: skip

    # --- what a test reads ------------------------------------------------------------------------------------

    def ticket(self, ref: str | int) -> Ticket:
        with self.lock:
            return self.tickets[int(ref)]

    def all_tickets(self) -> list[Ticket]:
        with self.lock:
            return list(self.tickets.values())

    # --- the API -------------------------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/v2/agents/me", fixed(lambda: {"id": 77, "contact": {"name": "Intake Gateway"}}))
        r.add_get("/api/v2/groups", fixed(lambda: [{"id": i, "name": n} for n, i in GROUPS.items()]))
        r.add_get("/api/v2/ticket_fields", fixed(lambda: [{"name": n, "type": "custom_text"} for n in FIELDS]))
        r.add_get("/api/v2/search/tickets", self._filter)
        r.add_get("/api/v2/tickets", self._list)
        r.add_post("/api/v2/tickets", self._create)
        r.add_get("/api/v2/tickets/{id}", self._show)
        r.add_put("/api/v2/tickets/{id}", self._update)
        r.add_get("/api/v2/tickets/{id}/conversations", self._conversations)
        r.add_post("/api/v2/tickets/{id}/notes", self._note)

    async def _body(self, request: web.Request) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
        """A JSON or multipart body as one dict (`tags[]` a list, `custom_fields[x]` a dict) and its files."""
        raw = await request.read()
        if not request.content_type.startswith("multipart/"):
            return json.loads(raw), []
        fields, files = form_parts(raw, request.headers["Content-Type"])
        out: dict[str, Any] = {}
        for name, value in fields:
            if name.endswith("[]"):
                out.setdefault(name[:-2], []).append(value)
            elif "[" in name:
                outer, _, inner = name.partition("[")
                out.setdefault(outer, {})[inner.rstrip("]")] = value
            else:
                out[name] = {"true": True, "false": False}.get(value, value)
        return out, [(filename, ctype, data) for _, filename, ctype, data in files]

    def _contact(self, body: dict[str, Any]) -> int | web.Response:
        for key in ("email", "phone", "unique_external_id"):
            if body.get(key):
                found = next((c for c in self.contacts.values() if c.get(key) == body[key]), None)
                if found is not None:
                    return int(found["id"])
                if key != "email" and not body.get("name"):
                    return _invalid("name", "It should be a/an String", "missing_field")
                cid = 7000 + len(self.contacts)
                self.contacts[cid] = {"id": cid, key: body[key], "name": body.get("name", "")}
                return cid
        return _invalid("requester_id", "Please fill at least 1 of requester_id, email, phone, unique_external_id",
                        "missing_field")  # fmt: skip

    async def _create(self, request: web.Request) -> web.Response:
        body, files = await self._body(request)
        unknown = sorted(set(body.get("custom_fields", {})) - set(FIELDS))
        if unknown:
            return _invalid(unknown[0], "Unexpected/invalid field in request", "invalid_field")
        if "group_id" in body and int(body["group_id"]) not in GROUPS.values():
            return _invalid("group_id", "There is no group matching the given group_id")
        with self.lock:
            requester = self._contact(body)
            if isinstance(requester, web.Response):
                return requester
            tid = 1001 + len(self.tickets)
            data = payload("freshdesk", "ticket.json")
            data.update(id=tid, subject=body.get("subject", ""), description=body.get("description", ""),
                        status=int(body.get("status", 2)), priority=int(body.get("priority", 1)),
                        source=int(body.get("source", 2)), requester_id=requester,
                        group_id=int(body["group_id"]) if "group_id" in body else None,
                        custom_fields={f: None for f in FIELDS} | body.get("custom_fields", {}),
                        tags=body.get("tags", []), created_at=_now(), updated_at=_now())  # fmt: skip
            data["attachments"] = [{"name": n, "content_type": c, "size": len(d)} for n, c, d in files]
            self.tickets[tid] = Ticket(data, files=files)
            return web.json_response(data, status=201)

    async def _filter(self, request: web.Request) -> web.Response:
        found = QUERY.match(request.query.get("query", "").strip())
        if found is None:
            return _invalid("query", "It should be in the 'ticket_field:value' format")
        now = time.monotonic()
        with self.lock:
            hits = [copy.deepcopy(t.data) for t in self.tickets.values() if now - t.made_at >= self.index_delay_s
                    and str(t.data["custom_fields"].get(found.group(1))) == found.group(2)]  # fmt: skip
        return web.json_response({"results": hits, "total": len(hits)})

    async def _list(self, request: web.Request) -> web.Response:
        since = request.query.get("updated_since", "")
        page, per_page = int(request.query.get("page", 1)), int(request.query.get("per_page", 30))
        with self.lock:
            changed = [t.data for t in self.tickets.values() if t.data["updated_at"] >= since]
            changed.sort(key=lambda d: (d["created_at"], d["id"]), reverse=request.query.get("order_type") != "asc")
            return web.json_response(copy.deepcopy(changed[(page - 1) * per_page : page * per_page]))

    def _get(self, request: web.Request) -> Ticket | None:
        return self.tickets.get(int(request.match_info["id"]))

    async def _show(self, request: web.Request) -> web.Response:
        with self.lock:
            t = self._get(request)
            return web.json_response(t.data) if t else web.json_response({}, status=404)

    async def _update(self, request: web.Request) -> web.Response:
        body, _ = await self._body(request)
        with self.lock:
            t = self._get(request)
            if t is None:
                return web.json_response({}, status=404)
            if "parent_id" in body and int(body["parent_id"]) not in self.tickets:
                return _invalid("parent_id", "There is no ticket matching the given parent_id")
            t.data.update(body, updated_at=_now())
            return web.json_response(t.data)

    async def _conversations(self, request: web.Request) -> web.Response:
        page, per_page = int(request.query.get("page", 1)), int(request.query.get("per_page", 30))
        with self.lock:
            t = self._get(request)
            if t is None:
                return web.json_response({}, status=404)
            return web.json_response(copy.deepcopy(t.conversations[(page - 1) * per_page : page * per_page]))

    def _add(self, t: Ticket, fields: dict[str, Any], files: list[tuple[str, str, bytes]]) -> dict[str, Any]:
        self._conversation_id += 1
        note = payload("freshdesk", "conversation.json")
        text = re.sub(r"<[^>]+>", "\n", fields.get("body", "")).strip()
        note.update(fields, id=self._conversation_id, ticket_id=t.id, body_text=re.sub(r"\n+", "\n", text),
                    attachments=[{"name": n, "content_type": c, "size": len(d)} for n, c, d in files])  # fmt: skip
        t.conversations.append(note)
        t.files += files
        t.data["updated_at"] = _now()
        return note

    async def _note(self, request: web.Request) -> web.Response:
        body, files = await self._body(request)
        with self.lock:
            t = self._get(request)
            if t is None:
                return web.json_response({}, status=404)
            if body.get("user_id") is not None and int(body["user_id"]) not in self.contacts:
                return _invalid("user_id", "There is no contact matching the given user_id")
            return web.json_response(self._add(t, body, files), status=201)

    # --- the agents and the automation rules ---------------------------------------------------------------

    def _webhook(self, name: str, t: Ticket, comment: str | None) -> tuple[bytes, dict[str, str]]:
        body = payload("freshdesk", name)
        change = body["freshdesk_webhook"]
        change.update(ticket_id=str(t.id), ticket_status=STATUS_NAMES[int(t.data["status"])])
        if comment is not None:
            change["ticket_latest_public_comment"] = comment
        headers = {"Content-Type": "application/json", self.webhook_header: self.secret}
        return json.dumps(body, ensure_ascii=False).encode(), headers

    async def agent_reply(self, ref: int | str, text: str, *, status: int | None = None) -> Sent:
        """An agent replies (and may change the status): the "reply sent" rule's webhook tells the gateway."""
        with self.lock:
            t = self.tickets[int(ref)]
            self._add(t, {"body": f"<div>{text}</div>", "private": False, "incoming": False, "user_id": 77}, [])
            if status is not None:
                t.data["status"] = status
            raw, headers = self._webhook("webhook_reply.json", t, text)
        return await self.post_to_gateway(raw, headers)

    async def set_status(self, ref: int | str, status: int) -> Sent:
        with self.lock:
            t = self.tickets[int(ref)]
            t.data.update(status=status, updated_at=_now())
            raw, headers = self._webhook("webhook_status.json", t, None)
        return await self.post_to_gateway(raw, headers)
