"""Zammad's REST API as the backend uses it: typed answers, and the lookups it keeps (groups, a phone's customer).

Authorization is `Token token=<access token>` (a token of the API user, with `ticket.agent` on the groups the
gateway files into). Errors read `{"error": "...", "error_human": "..."}`; the human one is kept.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from workers.backends.api import JsonApi, Reply
from workers.backends.http import Answer, error_message

NAME = "zammad"
PAGE = 100


class Ticket(Reply):
    model_config = ConfigDict(extra="allow")  # the district's own attributes (our request id among them)

    id: int
    number: str = ""
    customer_id: int | None = None
    state: str | None = None  # with ?expand=true
    created_at: str = ""

    def attribute(self, name: str) -> Any:
        return (self.model_extra or {}).get(name)


class Article(Reply):
    id: int
    body: str = ""
    internal: bool = False


class User(Reply):
    id: int
    phone: str | None = ""
    mobile: str | None = ""


class Named(Reply):
    id: int
    name: str
    active: bool = True


class Search(Reply):
    tickets: list[int] = Field(default_factory=list)
    assets: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)


class Link(Reply):
    link_type: str = ""
    link_object: str = ""
    link_object_value: int


class Links(Reply):
    links: list[Link] = Field(default_factory=list)


def describe(answer: Answer) -> str:
    data = answer.json()
    if isinstance(data, dict):
        for key in ("error_human", "error"):
            if isinstance(data.get(key), str) and data[key]:
                return str(data[key])[:300]
    return error_message(answer)


def api(url: str, token: str, timeout_s: float, ca_file: str) -> JsonApi:
    headers = {"Authorization": f"Token token={token}"}
    return JsonApi(NAME, url, headers, timeout_s=timeout_s, ca_file=ca_file, describe=describe)


class Zammad:
    """The calls, each named as an operator reads it in an error (`ticket.create: 422 ...`)."""

    def __init__(self, api: JsonApi) -> None:
        self.api = api

    def me(self) -> dict[str, Any]:
        return dict(self.api.call("users.me", "GET", "/api/v1/users/me").json() or {})

    def groups(self) -> list[Named]:
        return self.api.read_list("groups", self.api.call("groups", "GET", "/api/v1/groups"), Named)

    def priorities(self) -> list[Named]:
        answer = self.api.call("ticket_priorities", "GET", "/api/v1/ticket_priorities")
        return self.api.read_list("ticket_priorities", answer, Named)

    def search(self, query: str) -> list[Ticket]:
        answer = self.api.call("tickets.search", "GET", "/api/v1/tickets/search", params={"query": query, "limit": 10})
        found = self.api.read("tickets.search", answer, Search)
        assets = found.assets.get("Ticket", {})
        return [Ticket.model_validate(assets[str(i)]) for i in found.tickets if str(i) in assets]

    def newest(self, page: int) -> list[Ticket]:
        """Tickets by creation, newest first: Zammad's own list, never behind its writes as its search can be."""
        params: dict[str, str | int] = {"page": page, "per_page": PAGE, "sort_by": "created_at", "order_by": "desc"}
        return self.api.read_list("tickets.list", self.api.call("tickets.list", "GET", "/api/v1/tickets",
                                                                params=params), Ticket)  # fmt: skip

    def ticket(self, ref: str) -> Ticket:
        answer = self.api.call("tickets.show", "GET", f"/api/v1/tickets/{int(ref)}", params={"expand": "true"})
        return self.api.read("tickets.show", answer, Ticket)

    def create(self, body: dict[str, Any]) -> Ticket:
        return self.api.read("ticket.create", self.api.call("ticket.create", "POST", "/api/v1/tickets", body=body),
                             Ticket)  # fmt: skip

    def update(self, ref: str, body: dict[str, Any]) -> None:
        self.api.call("ticket.update", "PUT", f"/api/v1/tickets/{int(ref)}", body=body)

    def articles(self, ref: str) -> list[Article]:
        answer = self.api.call("ticket_articles", "GET", f"/api/v1/ticket_articles/by_ticket/{int(ref)}")
        return self.api.read_list("ticket_articles", answer, Article)

    def add_article(self, body: dict[str, Any]) -> Article:
        answer = self.api.call("ticket_article.create", "POST", "/api/v1/ticket_articles", body=body)
        return self.api.read("ticket_article.create", answer, Article)

    def find_users(self, query: str) -> list[User]:
        answer = self.api.call("users.search", "GET", "/api/v1/users/search", params={"query": query, "limit": 10})
        return self.api.read_list("users.search", answer, User)

    def create_user(self, body: dict[str, Any]) -> User:
        return self.api.read("user.create", self.api.call("user.create", "POST", "/api/v1/users", body=body), User)

    def links(self, ref: str) -> list[Link]:
        params: dict[str, str | int] = {"link_object": "Ticket", "link_object_value": int(ref)}
        return self.api.read("links", self.api.call("links", "GET", "/api/v1/links", params=params), Links).links

    def link(self, child_number: str, parent_ref: str) -> None:
        """Make `child_number`'s ticket a child of `parent_ref`'s: Zammad names the source ticket by its number and
        the target by its id."""
        body = {"link_type": "child", "link_object_source": "Ticket", "link_object_source_number": child_number,
                "link_object_target": "Ticket", "link_object_target_value": int(parent_ref)}  # fmt: skip
        self.api.call("links.add", "POST", "/api/v1/links/add", body=body)
