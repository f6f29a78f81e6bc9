"""Zendesk's Support API as the backend uses it: `{email}/token:{api token}` basic auth, typed answers.

Errors read `{"error": "RecordInvalid", "description": "...", "details": {"field": [{"description": ...}]}}`,
or `{"error": "Couldn't authenticate you"}`. A 429 usually carries Retry-After; the per-user limit's does not
(the outage circuit waits `backends.outages.rate_limit_wait_s` then, doubling).
"""

from __future__ import annotations

import base64
from typing import Any

from pydantic import Field

from workers.backends.api import File, JsonApi, Reply
from workers.backends.http import Answer, error_message

NAME = "zendesk"
IDEMPOTENCY_MISMATCH = "IdempotentRequestError"


class Ticket(Reply):
    id: int
    status: str = "new"
    type: str | None = None
    requester_id: int | None = None
    external_id: str | None = None


class _TicketAnswer(Reply):
    ticket: Ticket


class _Tickets(Reply):
    tickets: list[Ticket] = Field(default_factory=list)


class Comment(Reply):
    id: int
    body: str = ""
    public: bool = True


class _Meta(Reply):
    has_more: bool = False
    after_cursor: str | None = None


class _Comments(Reply):
    comments: list[Comment] = Field(default_factory=list)
    meta: _Meta = Field(default_factory=_Meta)


class Named(Reply):
    id: int
    name: str = ""
    title: str = ""


class _Groups(Reply):
    groups: list[Named] = Field(default_factory=list)


class _Fields(Reply):
    ticket_fields: list[Named] = Field(default_factory=list)


class _Upload(Reply):
    token: str


class _UploadAnswer(Reply):
    upload: _Upload


class _User(Reply):
    id: int


class _UserAnswer(Reply):
    user: _User


def describe(answer: Answer) -> str:
    data = answer.json()
    if not isinstance(data, dict):
        return error_message(answer)
    error = data.get("error")
    if isinstance(error, dict):  # some endpoints nest it: {"error": {"title": ..., "message": ...}}
        return f"{error.get('title', '')}: {error.get('message', '')}".strip(": ")[:300]
    parts = [str(p) for p in (error, data.get("description")) if isinstance(p, str) and p]
    details = data.get("details")
    if isinstance(details, dict):
        for name, found in details.items():
            for item in found if isinstance(found, list) else []:
                if isinstance(item, dict) and item.get("description"):
                    parts.append(f"{name}: {item['description']}")
    return ": ".join(parts)[:300] or error_message(answer)


def api(url: str, email: str, token: str, timeout_s: float, ca_file: str) -> JsonApi:
    basic = base64.b64encode(f"{email}/token:{token}".encode()).decode()
    return JsonApi(NAME, url, {"Authorization": f"Basic {basic}"}, timeout_s=timeout_s, ca_file=ca_file,
                   describe=describe)  # fmt: skip


class Zendesk:
    """The calls, each named as an operator reads it in an error (`ticket.create: 422 ...`)."""

    def __init__(self, api: JsonApi) -> None:
        self.api = api

    def me(self) -> dict[str, Any]:
        user = (self.api.call("users.me", "GET", "/api/v2/users/me.json").json() or {}).get("user") or {}
        return dict(user)

    def groups(self) -> list[Named]:
        answer = self.api.call("groups", "GET", "/api/v2/groups.json")
        return self.api.read("groups", answer, _Groups).groups

    def ticket_fields(self) -> list[Named]:
        answer = self.api.call("ticket_fields", "GET", "/api/v2/ticket_fields.json")
        return self.api.read("ticket_fields", answer, _Fields).ticket_fields

    def upload(self, f: File) -> str:
        answer = self.api.call("upload", "POST", "/api/v2/uploads.json", params={"filename": f.filename},
                               raw=(f.data, f.content_type or "application/octet-stream"))  # fmt: skip
        return self.api.read("upload", answer, _UploadAnswer).upload.token

    def create(self, ticket: dict[str, Any], idempotency_key: str) -> Answer:
        """The create call as answered: a 400 for a key sent before with another body is the caller's to read."""
        return self.api.call("ticket.create", "POST", "/api/v2/tickets.json", body={"ticket": ticket},
                             headers={"Idempotency-Key": idempotency_key}, allow=(400,))  # fmt: skip

    def created(self, answer: Answer) -> Ticket:
        return self.api.read("ticket.create", answer, _TicketAnswer).ticket

    def by_external_id(self, external_id: str) -> list[Ticket]:
        answer = self.api.call("tickets.list", "GET", "/api/v2/tickets.json", params={"external_id": external_id})
        return self.api.read("tickets.list", answer, _Tickets).tickets

    def ticket(self, ref: str) -> Ticket:
        answer = self.api.call("tickets.show", "GET", f"/api/v2/tickets/{int(ref)}.json")
        return self.api.read("tickets.show", answer, _TicketAnswer).ticket

    def update(self, ref: str, ticket: dict[str, Any], action: str = "ticket.update") -> None:
        self.api.call(action, "PUT", f"/api/v2/tickets/{int(ref)}.json", body={"ticket": ticket})

    def comments(self, ref: str) -> list[Comment]:
        out: list[Comment] = []
        params: dict[str, str | int] = {"page[size]": 100}
        for _ in range(50):
            answer = self.api.call("comments", "GET", f"/api/v2/tickets/{int(ref)}/comments.json", params=params)
            page = self.api.read("comments", answer, _Comments)
            out += page.comments
            if not page.meta.has_more or not page.meta.after_cursor:
                break
            params = {"page[size]": 100, "page[after]": page.meta.after_cursor}
        return out

    def end_user(self, name: str, external_id: str, phone: str | None) -> int:
        """The end user with this external id, made when Zendesk has none (create_or_update matches on it)."""
        user: dict[str, Any] = {"name": name, "external_id": external_id, "role": "end-user"}
        if phone:
            user["phone"] = phone
        answer = self.api.call("user.create_or_update", "POST", "/api/v2/users/create_or_update.json",
                               body={"user": user})  # fmt: skip
        return self.api.read("user.create_or_update", answer, _UserAnswer).user.id
