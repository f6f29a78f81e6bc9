"""A local stand-in for Zendesk's Support API and its webhooks (tests/payloads/zendesk/NOTES.md).

It keeps tickets, comments, users and uploads in memory, answers in Zendesk's shapes, checks basic auth with
`{email}/token:{api_token}`, keeps each `Idempotency-Key` of a ticket create for two hours (the same body
answers the first result, `x-idempotency-lookup: hit`; another body a 400 `IdempotentRequestError`). It plays
the agents: `agent_comment` and `set_status` change a ticket and send the webhook's ticket events, each signed
with its own timestamp (base64 HMAC-SHA256 of timestamp + body). A per-user 429 without Retry-After is
`script`ed by the test.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.helpdesk import HelpDesk, Sent, fixed, payload

GROUPS = {"Transportation": 391230000101, "IT Help": 391230000102}
FIELDS = [360011112222, 360011113333]
AGENT = 391230000011
KEEP_KEYS_S = 2 * 3600


@dataclass
class Ticket:
    data: dict[str, Any]
    comments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> int:
        return int(self.data["id"])


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ZendeskStandIn(HelpDesk):
    name = "zendesk"

    def __init__(self, email: str, token: str, secret: str, ca_dir: Path) -> None:
        super().__init__(ca_dir)
        self.email = email
        self.token = token
        self.secret = secret
        self.tickets: dict[int, Ticket] = {}
        self.users: dict[int, dict[str, Any]] = {AGENT: {"id": AGENT, "name": "Intake Gateway", "role": "admin",
                                                         "email": email, "external_id": None}}  # fmt: skip
        self.uploads: dict[str, tuple[str, str, bytes]] = {}
        self.keys: dict[str, tuple[str, float, dict[str, Any]]] = {}

    def authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.email}/token:{self.token}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    def error(self, status: int, message: str) -> web.Response:
        if status == 401:
            return web.json_response({"error": "Couldn't authenticate you"}, status=401)
        return web.json_response({"error": "RecordNotFound", "description": message}, status=status)

    def ticket(self, ref: str | int) -> Ticket:
        with self.lock:
            return self.tickets[int(ref)]

    def all_tickets(self) -> list[Ticket]:
        with self.lock:
            return list(self.tickets.values())

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/v2/users/me.json", fixed(lambda: {"user": self.users[AGENT]}))
        r.add_get("/api/v2/groups.json", fixed(lambda: {"groups": [{"id": i, "name": n} for n, i in GROUPS.items()]}))
        fields = [{"id": i, "title": f"Field {i}", "type": "text"} for i in FIELDS]
        r.add_get("/api/v2/ticket_fields.json", fixed(lambda: {"ticket_fields": fields}))
        r.add_post("/api/v2/uploads.json", self._upload)
        r.add_post("/api/v2/users/create_or_update.json", self._user)
        r.add_post("/api/v2/tickets.json", self._create)
        r.add_get("/api/v2/tickets.json", self._list)
        r.add_get("/api/v2/tickets/{id}.json", self._show)
        r.add_put("/api/v2/tickets/{id}.json", self._update)
        r.add_get("/api/v2/tickets/{id}/comments.json", self._comments)

    # --- the API -------------------------------------------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.Response:
        token = secrets.token_hex(12)
        with self.lock:
            self.uploads[token] = (request.query.get("filename", ""), request.content_type, await request.read())
        return web.json_response({"upload": {"token": token, "attachment": {"file_name": request.query.get("filename"),
                                                                            "content_type": request.content_type}}},
                                 status=201)  # fmt: skip

    async def _user(self, request: web.Request) -> web.Response:
        given = (await request.json())["user"]
        with self.lock:
            found = next((u for u in self.users.values() if given.get("external_id")
                          and u.get("external_id") == given["external_id"]), None)  # fmt: skip
            if found is not None:
                return web.json_response({"user": found})
            return web.json_response({"user": self._new_user(given)}, status=201)

    def _new_user(self, fields: dict[str, Any]) -> dict[str, Any]:
        uid = max(self.users) + 1
        self.users[uid] = {"id": uid, "role": "end-user", "email": None, "phone": None, "external_id": None, **fields}
        return self.users[uid]

    def _invalid(self, name: str, description: str) -> web.Response:
        body = payload("zendesk", "error_record_invalid.json")
        body["details"] = {name: [{"description": description, "error": "InvalidValue"}]}
        return web.json_response(body, status=422)

    async def _create(self, request: web.Request) -> web.Response:
        raw = await request.read()
        key = request.headers.get("Idempotency-Key")
        digest = hashlib.sha256(raw).hexdigest()
        with self.lock:
            if key and key in self.keys and time.monotonic() - self.keys[key][1] < KEEP_KEYS_S:
                seen, _, answer = self.keys[key]
                if seen != digest:
                    return web.json_response({"error": "IdempotentRequestError", "description": "Request parameters "
                                              "do not match the original request for this idempotency key"},
                                             status=400)  # fmt: skip
                return web.json_response(answer, status=201, headers={"x-idempotency-lookup": "hit"})
            created = self._make(json.loads(raw)["ticket"])
            if isinstance(created, web.Response):
                return created
            answer = {"ticket": created.data, "audit": {"id": created.id * 10, "events": []}}
            if key:
                self.keys[key] = (digest, time.monotonic(), copy.deepcopy(answer))
        return web.json_response(answer, status=201, headers={"x-idempotency-lookup": "miss"} if key else {})

    def _make(self, given: dict[str, Any]) -> Ticket | web.Response:
        if "group_id" in given and given["group_id"] not in GROUPS.values():
            return self._invalid("group", "Group: is invalid")
        if given.get("requester"):
            who = given["requester"]
            found = next((u for u in self.users.values() if who.get("email") and u.get("email") == who["email"]), None)
            requester = (
                found["id"] if found else self._new_user({"name": who.get("name"), "email": who.get("email")})["id"]
            )
        elif given.get("requester_id") in self.users:
            requester = given["requester_id"]
        else:
            return self._invalid("requester", "Requester: is invalid")
        tid = 4801 + len(self.tickets)
        data = payload("zendesk", "ticket.json")
        data.update({k: v for k, v in given.items() if k not in ("comment", "requester")}, id=tid,
                    requester_id=requester, submitter_id=AGENT, status="new", created_at=_now(), updated_at=_now(),
                    url=f"{self.base_url}/api/v2/tickets/{tid}.json", description=given["comment"]["body"])  # fmt: skip
        t = self.tickets[tid] = Ticket(data)
        self._comment(t, given["comment"], AGENT)
        return t

    def _comment(self, t: Ticket, given: dict[str, Any], author: int) -> None:
        files = [self.uploads.pop(tok) for tok in given.get("uploads", []) if tok in self.uploads]
        t.comments.append({"id": 391230009000 + sum(len(x.comments) for x in self.tickets.values()), "type": "Comment",
                           "author_id": given.get("author_id", author), "body": given["body"],
                           "public": given.get("public", True), "created_at": _now(),
                           "attachments": [{"file_name": n, "content_type": c, "size": len(d), "data": d}
                                           for n, c, d in files]})  # fmt: skip
        t.data["updated_at"] = _now()

    async def _list(self, request: web.Request) -> web.Response:
        wanted = request.query.get("external_id")
        with self.lock:
            found = [t.data for t in self.tickets.values() if wanted is None or t.data.get("external_id") == wanted]
            return web.json_response({"tickets": copy.deepcopy(found), "count": len(found), "next_page": None})

    def _get(self, request: web.Request) -> Ticket | None:
        return self.tickets.get(int(request.match_info["id"]))

    async def _show(self, request: web.Request) -> web.Response:
        with self.lock:
            t = self._get(request)
            return web.json_response({"ticket": t.data}) if t else self.error(404, "Not found")

    async def _update(self, request: web.Request) -> web.Response:
        given = (await request.json())["ticket"]
        with self.lock:
            t = self._get(request)
            if t is None:
                return self.error(404, "Not found")
            if given.get("problem_id") is not None:
                problem = self.tickets.get(int(given["problem_id"]))
                if problem is None or problem.data.get("type") != "problem":
                    return self._invalid("problem_id", "Problem: is not a problem ticket")
            if "comment" in given:
                self._comment(t, given["comment"], AGENT)
            t.data.update({k: v for k, v in given.items() if k != "comment"}, updated_at=_now())
            return web.json_response({"ticket": t.data, "audit": {"events": []}})

    async def _comments(self, request: web.Request) -> web.Response:
        size = int(request.query.get("page[size]", 100))
        after = int(request.query.get("page[after]", 0) or 0)
        with self.lock:
            t = self._get(request)
            if t is None:
                return self.error(404, "Not found")
            page = [{k: v for k, v in c.items() if k != "attachments"} for c in t.comments[after : after + size]]
            more = after + size < len(t.comments)
        meta = {"has_more": more, "after_cursor": str(after + size) if more else None, "before_cursor": None}
        return web.json_response({"comments": page, "meta": meta, "links": {}})

    # --- the agents, and the webhook's ticket events --------------------------------------------------------

    def signed(self, event: dict[str, Any], at: datetime | None = None) -> tuple[bytes, dict[str, str]]:
        raw = json.dumps(event, ensure_ascii=False).encode()
        stamp = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        mac = base64.b64encode(hmac.new(self.secret.encode(), stamp.encode() + raw, hashlib.sha256).digest()).decode()
        headers = {"Content-Type": "application/json", "User-Agent": "Zendesk Webhook",
                   "X-Zendesk-Webhook-Id": "01J7ZC0000WEBHOOK0000000001", "X-Zendesk-Webhook-Signature": mac,
                   "X-Zendesk-Webhook-Signature-Timestamp": stamp}  # fmt: skip
        return raw, headers

    def _event(self, name: str, t: Ticket) -> dict[str, Any]:
        event = payload("zendesk", name)
        event["id"] = str(uuid.uuid4())
        event["subject"] = f"zen:ticket:{t.id}"
        event["detail"].update(id=str(t.id), status=t.data["status"].upper(), external_id=t.data.get("external_id"),
                               requester_id=str(t.data["requester_id"]), updated_at=_now())  # fmt: skip
        return event

    async def agent_comment(self, ref: int | str, body: str, *, public: bool = True, status: str | None = None
                            ) -> list[Sent]:  # fmt: skip
        """An agent comments (and may change the status): the webhook's events for it, one POST each."""
        with self.lock:
            t = self.tickets[int(ref)]
            before = t.data["status"]
            self._comment(t, {"body": body, "public": public}, AGENT)
            if status is not None:
                t.data["status"] = status
            comment = self._event("event_comment_added.json", t)
            comment["event"]["comment"].update(body=body, is_public=public)
            out = [self.signed(comment)]
            if status is not None and status != before:
                changed = self._event("event_status_changed.json", t)
                changed["event"].update(current=status.upper(), previous=before.upper())
                out.append(self.signed(changed))
        return [await self.post_to_gateway(raw, headers) for raw, headers in out]

    async def set_status(self, ref: int | str, status: str) -> Sent:
        with self.lock:
            t = self.tickets[int(ref)]
            before, t.data["status"] = t.data["status"], status
            changed = self._event("event_status_changed.json", t)
            changed["event"].update(current=status.upper(), previous=before.upper())
            raw, headers = self.signed(changed)
        return await self.post_to_gateway(raw, headers)
