"""Freshdesk's API v2 as the backend uses it: basic auth with the API key, typed answers, and pacing within the
account's allowance.

Freshdesk's allowance is per account per minute, shared by every worker (and every other integration of the
account). Each answer reports it: `X-RateLimit-Total`, `X-RateLimit-Remaining`. The total is kept in Redis for
every worker, and calls are paced by one token bucket in Redis (workers/backends/pacing.py) so that, burst
included, no window of `window_s` seconds holds more calls than the allowance. A 429 still comes with its
`Retry-After`, which holds every worker (the outage circuit).
"""

from __future__ import annotations

import base64
from typing import Any

import redis
from pydantic import Field

from gateway import keys
from gateway.store.redis_conn import text
from workers.backends.api import JsonApi, Reply
from workers.backends.http import Answer, error_message
from workers.backends.pacing import Pacer

NAME = "freshdesk"
FIRST_ALLOWANCE = 20  # calls a window until Freshdesk has told us the account's allowance (one answer does)
PAGE = 100


class Ticket(Reply):
    id: int
    status: int = 2
    requester_id: int | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    created_at: str = ""


class Search(Reply):
    results: list[Ticket] = Field(default_factory=list)
    total: int = 0


class Conversation(Reply):
    id: int
    body_text: str | None = ""
    private: bool = False


class Named(Reply):
    id: int
    name: str


def describe(answer: Answer) -> str:
    """Freshdesk's words: `{"description": "Validation failed", "errors": [{"field", "message", "code"}]}`, or
    `{"code": "invalid_credentials", "message": "..."}`."""
    data = answer.json()
    if not isinstance(data, dict):
        return error_message(answer)
    errors = data.get("errors")
    if isinstance(errors, list) and errors:
        each = [f"{e.get('field') or 'request'}: {e.get('message', '')} ({e.get('code', '')})"
                for e in errors if isinstance(e, dict)]  # fmt: skip
        return f"{data.get('description') or 'refused'}: {'; '.join(each)}"[:300]
    if isinstance(data.get("message"), str):
        return str(data["message"])[:300]
    return error_message(answer)


class Allowance:
    """The account's calls per window, learned from Freshdesk's answers, and the pacer that keeps within it."""

    def __init__(self, r: redis.Redis, configured: int, window_s: float) -> None:
        self.r = r
        self.configured = configured
        self.window_s = window_s
        self._pacers: dict[int, Pacer] = {}

    def current(self) -> int:
        if self.configured:
            return self.configured
        known = self.r.get(keys.backend_allowance(NAME))
        return int(text(known)) if known is not None else FIRST_ALLOWANCE

    def take(self) -> None:
        allowance = self.current()
        pacer = self._pacers.get(allowance)
        if pacer is None:
            # A bucket of `burst` refilled at (allowance - burst) a window: never more than the allowance in any
            # window, however the calls fall across its edges.
            burst = max(1, allowance // 10)
            per_minute = max(1, allowance - burst) * 60.0 / self.window_s
            pacer = self._pacers[allowance] = Pacer(self.r, NAME, per_minute, burst)
        pacer.take(max_wait_s=max(30.0, self.window_s))

    def learn(self, answer: Answer) -> None:
        total = answer.headers.get("x-ratelimit-total", "")
        if self.configured or not total.isdigit() or int(total) <= 0:
            return
        if int(total) != self.current():
            self.r.set(keys.backend_allowance(NAME), int(total))


def api(url: str, key: str, timeout_s: float, ca_file: str, allowance: Allowance) -> JsonApi:
    token = base64.b64encode(f"{key}:X".encode()).decode()
    return JsonApi(NAME, url, {"Authorization": f"Basic {token}"}, timeout_s=timeout_s, ca_file=ca_file,
                   pace=allowance.take, describe=describe, watch=allowance.learn)  # fmt: skip


class Freshdesk:
    """The calls, each named as an operator reads it in an error (`ticket.create: 400 ...`)."""

    def __init__(self, api: JsonApi) -> None:
        self.api = api

    def me(self) -> None:
        self.api.call("agents.me", "GET", "/api/v2/agents/me")

    def groups(self) -> list[Named]:
        answer = self.api.call("groups", "GET", "/api/v2/groups", params={"per_page": PAGE})
        return self.api.read_list("groups", answer, Named)

    def ticket_fields(self) -> list[str]:
        answer = self.api.call("ticket_fields", "GET", "/api/v2/ticket_fields")
        return [str(f.get("name")) for f in answer.json() or [] if isinstance(f, dict)]

    def filter(self, query: str) -> list[Ticket]:
        """The filter API: its query is quoted whole, and it reads an index that trails writes by minutes."""
        answer = self.api.call("tickets.filter", "GET", "/api/v2/search/tickets", params={"query": f'"{query}"'})
        return self.api.read("tickets.filter", answer, Search).results

    def changed_since(self, since: str, page: int) -> list[Ticket]:
        """Tickets changed since `since`, newest first: the list is read from Freshdesk's records, never behind."""
        params: dict[str, str | int] = {"updated_since": since, "order_by": "created_at", "order_type": "desc"}
        params.update(per_page=PAGE, page=page)
        return self.api.read_list("tickets.list", self.api.call("tickets.list", "GET", "/api/v2/tickets",
                                                                params=params), Ticket)  # fmt: skip

    def ticket(self, ref: str) -> Ticket:
        return self.api.read("tickets.show", self.api.call("tickets.show", "GET", f"/api/v2/tickets/{int(ref)}"),
                             Ticket)  # fmt: skip

    def create(self, body: Any, raw: tuple[bytes, str] | None) -> Ticket:
        answer = self.api.call("ticket.create", "POST", "/api/v2/tickets", body=None if raw else body, raw=raw)
        return self.api.read("ticket.create", answer, Ticket)

    def update(self, ref: str, body: dict[str, Any], action: str = "ticket.update") -> None:
        self.api.call(action, "PUT", f"/api/v2/tickets/{int(ref)}", body=body)

    def conversations(self, ref: str) -> list[Conversation]:
        out: list[Conversation] = []
        for page in range(1, 50):
            params = {"per_page": PAGE, "page": page}
            answer = self.api.call("conversations", "GET", f"/api/v2/tickets/{int(ref)}/conversations", params=params)
            batch = self.api.read_list("conversations", answer, Conversation)
            out += batch
            if len(batch) < PAGE:
                break
        return out

    def add_note(self, ref: str, body: Any, raw: tuple[bytes, str] | None) -> Conversation:
        answer = self.api.call("note.create", "POST", f"/api/v2/tickets/{int(ref)}/notes",
                               body=None if raw else body, raw=raw)  # fmt: skip
        return self.api.read("note.create", answer, Conversation)
