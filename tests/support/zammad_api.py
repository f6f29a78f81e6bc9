"""A local stand-in for Zammad's REST API and its trigger webhooks (tests/payloads/zammad/NOTES.md).

It keeps tickets, articles, users and links in memory, answers in Zammad's shapes (`ticket.json`, `article.json`
filled in), checks `Authorization: Token token=...`, and plays the agents: `agent_reply` and `set_state` change
a ticket and send the trigger's webhook, signed `X-Hub-Signature: sha1=...` and named by `X-Zammad-Delivery`,
sent again up to four times while the gateway does not answer 2xx. Its search lags its writes by `index_delay_s`,
as Zammad's (Elasticsearch) index does; its list of tickets never does.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.helpdesk import HelpDesk, Sent, fixed, payload

GROUPS = ["Users", "Transportation", "IT Help"]
PRIORITIES = {1: "1 low", 2: "2 normal", 3: "3 high"}
STATES = {1: "new", 2: "open", 3: "pending reminder", 4: "closed", 5: "merged", 7: "pending close"}
QUERY = re.compile(r'^(\w+):"([^"]*)"$')


@dataclass
class Ticket:
    data: dict[str, Any]
    made_at: float = field(default_factory=time.monotonic)
    articles: list[dict[str, Any]] = field(default_factory=list)
    links: list[int] = field(default_factory=list)  # parents

    @property
    def id(self) -> int:
        return int(self.data["id"])


class ZammadStandIn(HelpDesk):
    name = "zammad"

    def __init__(self, token: str, secret: str, ca_dir: Path) -> None:
        super().__init__(ca_dir)
        self.token = token
        self.secret = secret
        self.tickets: dict[int, Ticket] = {}
        self.users: dict[int, dict[str, Any]] = {3: {"id": 3, "login": "intake", "email": "intake@district.example.org",
                                                     "firstname": "Intake", "lastname": "Gateway", "phone": "",
                                                     "mobile": "", "roles": ["Agent"]}}  # fmt: skip
        self.index_delay_s = 0.0
        self._next_article = 400

    @property
    def url(self) -> str:
        return self.base_url

    def authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Token token={self.token}"

    def error(self, status: int, message: str) -> web.Response:
        words = {401: "Authentication failed!", 404: "Not Found"}.get(status, message)
        return web.json_response({"error": message if status != 401 else "authentication failed",
                                  "error_human": words}, status=status)  # fmt: skip

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/v1/users/me", fixed(lambda: self.users[3]))
        r.add_get("/api/v1/groups", self._groups)
        r.add_get("/api/v1/ticket_priorities", self._priorities)
        r.add_get("/api/v1/tickets/search", self._search)
        r.add_get("/api/v1/tickets", self._list)
        r.add_post("/api/v1/tickets", self._create)
        r.add_get("/api/v1/tickets/{id}", self._show)
        r.add_put("/api/v1/tickets/{id}", self._update)
        r.add_get("/api/v1/ticket_articles/by_ticket/{id}", self._articles)
        r.add_post("/api/v1/ticket_articles", self._add_article)
        r.add_get("/api/v1/users/search", self._find_users)
        r.add_post("/api/v1/users", self._create_user)
        r.add_get("/api/v1/links", self._links)
        r.add_post("/api/v1/links/add", self._link)

    # --- what a test reads --------------------------------------------------------------------------------

    def ticket(self, ref: str | int) -> Ticket:
        with self.lock:
            return self.tickets[int(ref)]

    def all_tickets(self) -> list[Ticket]:
        with self.lock:
            return list(self.tickets.values())

    def customer(self, ticket: Ticket) -> dict[str, Any]:
        with self.lock:
            return self.users[int(ticket.data["customer_id"])]

    # --- the API ------------------------------------------------------------------------------------------

    async def _groups(self, _: web.Request) -> web.Response:
        return web.json_response([{"id": i + 1, "name": g, "active": True} for i, g in enumerate(GROUPS)])

    async def _priorities(self, _: web.Request) -> web.Response:
        return web.json_response([{"id": i, "name": n, "active": True} for i, n in PRIORITIES.items()])

    def _full(self, t: Ticket) -> dict[str, Any]:
        out = copy.deepcopy(t.data)
        out["article_ids"] = [a["id"] for a in t.articles]
        out["article_count"] = len(t.articles)
        return out

    async def _search(self, request: web.Request) -> web.Response:
        found = QUERY.match(request.query.get("query", "").strip())
        now = time.monotonic()
        with self.lock:
            hits = [t for t in self.tickets.values() if found and now - t.made_at >= self.index_delay_s
                    and str(t.data.get(found.group(1), "")) == found.group(2)]  # fmt: skip
            assets = {str(t.id): self._full(t) for t in hits}
        return web.json_response({"tickets": [t.id for t in hits], "tickets_count": len(hits),
                                  "assets": {"Ticket": assets}})  # fmt: skip

    async def _list(self, request: web.Request) -> web.Response:
        page, per_page = int(request.query.get("page", 1)), int(request.query.get("per_page", 50))
        with self.lock:
            ordered = sorted(self.tickets.values(), key=lambda t: t.id, reverse=request.query.get("order_by") == "desc")
            return web.json_response([self._full(t) for t in ordered[(page - 1) * per_page : page * per_page]])

    def _unprocessable(self, message: str) -> web.Response:
        return web.json_response({"error": message, "error_human": message}, status=422)

    def _customer_of(self, given: Any) -> int | web.Response:
        if isinstance(given, str) and given.startswith("guess:"):
            email = given.removeprefix("guess:")
            for user in self.users.values():
                if user.get("email") == email:
                    return int(user["id"])
            return int(self._new_user({"email": email, "login": email, "firstname": "", "lastname": ""})["id"])
        if isinstance(given, int) and given in self.users:
            return given
        return self._unprocessable(f"No lookup value found for 'customer': {json.dumps(given)}")

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        group = body.get("group")
        if group not in GROUPS:
            return self._unprocessable(f"No lookup value found for 'group': {json.dumps(group)}")
        priority = body.get("priority", "2 normal")
        if priority not in PRIORITIES.values():
            return self._unprocessable(f"No lookup value found for 'priority': {json.dumps(priority)}")
        with self.lock:
            customer = self._customer_of(body.get("customer_id"))
            if isinstance(customer, web.Response):
                return customer
            tid = len(self.tickets) + 201
            data = payload("zammad", "ticket.json")
            extra = {k: v for k, v in body.items() if k not in ("article", "customer_id", "group", "priority")}
            data.update(extra, id=tid, number=str(31000 + tid), customer_id=customer,
                        group_id=GROUPS.index(group) + 1, state_id=1,
                        priority_id=next(i for i, n in PRIORITIES.items() if n == priority))  # fmt: skip
            t = self.tickets[tid] = Ticket(data)
            self._article(t, {**body["article"], "ticket_id": tid})
            return web.json_response(self._full(t), status=201)

    def _article(self, t: Ticket, body: dict[str, Any]) -> dict[str, Any]:
        self._next_article += 1
        article = payload("zammad", "article.json")
        files = [{"id": self._next_article * 10 + i, "filename": f["filename"], "size": str(len(f["data"]) * 3 // 4),
                  "preferences": {"Mime-Type": f["mime-type"]}, "data": base64.b64decode(f["data"])}
                 for i, f in enumerate(body.get("attachments", []))]  # fmt: skip
        article.update({k: v for k, v in body.items() if k != "attachments"}, id=self._next_article,
                       ticket_id=t.id, attachments=files)  # fmt: skip
        t.articles.append(article)
        return article

    def _get(self, request: web.Request) -> Ticket | None:
        return self.tickets.get(int(request.match_info["id"]))

    async def _show(self, request: web.Request) -> web.Response:
        with self.lock:
            t = self._get(request)
            if t is None:
                return self.error(404, "Not Found")
            out = self._full(t)
            if request.query.get("expand") == "true":
                out["state"] = STATES[int(t.data["state_id"])]
            return web.json_response(out)

    async def _update(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self.lock:
            t = self._get(request)
            if t is None:
                return self.error(404, "Not Found")
            if "state" in body:
                t.data["state_id"] = next(i for i, n in STATES.items() if n == body["state"])
            if body.get("article"):
                self._article(t, {**body["article"], "sender": "Agent"})
            return web.json_response(self._full(t))

    async def _articles(self, request: web.Request) -> web.Response:
        with self.lock:
            t = self._get(request)
            if t is None:
                return self.error(404, "Not Found")
            return web.json_response([{k: v for k, v in a.items() if k != "attachments"} for a in t.articles])

    async def _add_article(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self.lock:
            t = self.tickets.get(int(body.get("ticket_id", 0)))
            if t is None:
                return self._unprocessable("No lookup value found for 'ticket_id'")
            article = self._article(t, body)
            return web.json_response({k: v for k, v in article.items() if k != "attachments"}, status=201)

    def _new_user(self, fields: dict[str, Any]) -> dict[str, Any]:
        uid = max(self.users) + 1
        user = {"id": uid, "email": "", "phone": "", "mobile": "", "roles": ["Customer"], **fields}
        self.users[uid] = user
        return user

    async def _find_users(self, request: web.Request) -> web.Response:
        query = request.query.get("query", "")
        with self.lock:
            found = [
                u for u in self.users.values() if query and any(query in (u.get(k) or "") for k in ("phone", "mobile"))
            ]
            return web.json_response(found)

    async def _create_user(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self.lock:
            return web.json_response(self._new_user(body), status=201)

    async def _links(self, request: web.Request) -> web.Response:
        with self.lock:
            t = self.tickets.get(int(request.query.get("link_object_value", 0)))
            links = [
                {"link_type": "parent", "link_object": "Ticket", "link_object_value": p} for p in (t.links if t else [])
            ]
            return web.json_response({"links": links, "assets": {}})

    async def _link(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self.lock:
            number = body.get("link_object_source_number")
            child = next((t for t in self.tickets.values() if t.data["number"] == number), None)
            parent = self.tickets.get(int(body.get("link_object_target_value", 0)))
            if child is None or parent is None or body.get("link_type") != "child":
                return self._unprocessable("No such ticket or link type")
            child.links.append(parent.id)
            return web.json_response({"id": len(child.links), "link_type_id": 2}, status=201)

    # --- the agents --------------------------------------------------------------------------------------

    def _webhook(self, t: Ticket, article: dict[str, Any] | None) -> tuple[bytes, dict[str, str]]:
        body = payload("zammad", "webhook_agent_reply.json")
        body["ticket"].update(id=t.id, number=t.data["number"], state=STATES[int(t.data["state_id"])],
                              customer_id=t.data["customer_id"], title=t.data.get("title", ""))  # fmt: skip
        body["article"] = {**body["article"], **article, "ticket_id": t.id} if article is not None else {}
        raw = json.dumps(body, ensure_ascii=False).encode()
        mac = hmac.new(self.secret.encode(), raw, hashlib.sha1).hexdigest()
        headers = {"Content-Type": "application/json", "User-Agent": "Zammad User Agent",
                   "X-Zammad-Trigger": "intake gateway", "X-Zammad-Delivery": uuid.uuid4().hex,
                   "X-Hub-Signature": f"sha1={mac}"}  # fmt: skip
        return raw, headers

    async def agent_reply(self, ref: int | str, html: str, *, internal: bool = False, state: str | None = None) -> Sent:
        """An agent writes an article (and may change the state); the trigger's webhook tells the gateway."""
        with self.lock:
            t = self.tickets[int(ref)]
            if state is not None:
                t.data["state_id"] = next(i for i, n in STATES.items() if n == state)
            agent = {"firstname": "Jordan", "lastname": "Rivera", "id": 9}
            written = {"body": html, "content_type": "text/html", "internal": internal, "sender": "Agent"}
            article = self._article(t, {**written, "type": "note", "created_by_id": 9, "created_by": agent})
            raw, headers = self._webhook(t, {k: v for k, v in article.items() if k != "attachments"})
        return await self.post_to_gateway(raw, headers, retries=4)

    def state_webhook(self, ref: int | str) -> tuple[bytes, dict[str, str]]:
        """The trigger's webhook for the ticket as it is now, signed, not sent (a test sends it, or a forgery)."""
        with self.lock:
            return self._webhook(self.tickets[int(ref)], None)

    def set_state_quietly(self, ref: int | str, state: str) -> None:
        """An agent changes the state and no trigger tells the gateway (a trigger switched off, a webhook lost)."""
        with self.lock:
            self.tickets[int(ref)].data["state_id"] = next(i for i, n in STATES.items() if n == state)

    async def set_state(self, ref: int | str, state: str) -> Sent:
        with self.lock:
            t = self.tickets[int(ref)]
            t.data["state_id"] = next(i for i, n in STATES.items() if n == state)
            raw, headers = self._webhook(t, None)
        return await self.post_to_gateway(raw, headers, retries=4)
