"""Request Tracker's REST2, as the rt backend calls it: python-rt's client, and our errors for RT's answers.

python-rt (`rt.rest2.Rt`) makes the calls it has: tickets (create with attachments, search, edit,
links), queues, users and a ticket's attachments. Three calls it lacks go through the same client's
own HTTP session, with the same authentication:

- a correspondence or comment with a Subject (our mark, found again before a retry adds it twice) and
  a status in the same call, whose transaction id RT gives only in the `Location` header;
- a transaction search (TransactionSQL) with the fields the poller needs (type, old and new value, creator);
- the attachments of many transactions at once (`TransactionId IN [...]`).

Every failure becomes one of workers.backends.errors, so the worker decides from its kind alone. RT's
own message is kept (masked: RT may quote an address or a number back), never a request's body.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import httpx2
import rt.exceptions
import rt.rest2

from gateway.logs import mask
from workers.backends.errors import (
    BackendAuthFailed,
    BackendError,
    BackendRateLimited,
    BackendRefused,
    BackendUnavailable,
)

NAME = "rt"
T = TypeVar("T")

# python-rt logs each request's body and httpx2 each URL (a phone user's name is in its path) at DEBUG and
# INFO: neither belongs in our logs, whatever level the gateway runs at.
logging.getLogger("rt").setLevel(logging.WARNING)
for _name in ("httpx2", "httpcore2"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def rest_url(url: str) -> str:
    """RT's REST2 base from what an operator writes: RT's own address, or its REST2 address."""
    base = url.rstrip("/")
    return base + "/" if base.endswith("/REST/2.0") else base + "/REST/2.0/"


def _message(status: int, body: str) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("message"):
        text = str(parsed["message"])
    elif isinstance(parsed, list) and parsed:
        text = "; ".join(str(x) for x in parsed)
    else:
        text = body.strip()[:300] or f"HTTP {status}"
    return mask(text)


def refusal(status: int, body: str, retry_after: str | None = None) -> BackendError:
    """What an HTTP answer from RT means for the job."""
    message = _message(status, body)
    if status == 401:
        return BackendAuthFailed(NAME, f"RT refused our credentials (401): {message}")
    if status == 429:
        wait = float(retry_after) if retry_after and retry_after.strip().isdigit() else None
        return BackendRateLimited(NAME, f"RT asked us to slow down (429): {message}", wait)
    if status >= 500:
        return BackendUnavailable(NAME, f"RT answered {status}: {message}")
    # 403 is RT saying the user lacks a right on that object (or the queue does not exist): an operator's fix.
    return BackendRefused(NAME, message)


def _translate(exc: rt.exceptions.RtError) -> BackendError:
    if isinstance(exc, rt.exceptions.AuthorizationError):
        return BackendAuthFailed(NAME, "RT refused our credentials (401)")
    if isinstance(exc, rt.exceptions.ConnectionError):
        return BackendUnavailable(NAME, f"RT unreachable: {type(exc.__cause__ or exc).__name__}")
    if isinstance(exc, rt.exceptions.UnexpectedResponseError) and exc.status_code:
        return refusal(exc.status_code, exc.response_message or "")
    return BackendRefused(NAME, mask(str(exc)) or type(exc).__name__)


class RtApi:
    """One RT: python-rt's client and the few REST2 calls it has no method for."""

    def __init__(self, url: str, *, token: str = "", user: str = "", password: str = "", timeout_s: float = 30,
                 ca_file: str = "") -> None:  # fmt: skip
        auth = httpx2.BasicAuth(user, password) if not token else None
        verify: str | bool = ca_file or True
        self.client = rt.rest2.Rt(rest_url(url), token=token or None, http_auth=auth, verify_cert=verify,
                                  http_timeout=int(max(1, timeout_s)))  # fmt: skip
        self.url = self.client.url

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A python-rt call, its errors as ours."""
        try:
            return fn(*args, **kwargs)
        except rt.exceptions.RtError as exc:
            raise _translate(exc) from None

    def exists(self, fn: Callable[..., Any], *args: Any) -> bool:
        """Whether RT has the object (False on 404); other failures raise as ours."""
        return self.get_or_none(fn, *args) is not None

    def listing(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        """A python-rt search, as a list; empty when RT found nothing (python-rt raises NotFoundError then)."""
        try:
            return list(fn(*args, **kwargs))
        except rt.exceptions.NotFoundError:
            return []
        except rt.exceptions.RtError as exc:
            raise _translate(exc) from None

    def get_or_none(self, fn: Callable[..., T], *args: Any) -> T | None:
        try:
            return fn(*args)
        except rt.exceptions.NotFoundError:
            return None
        except rt.exceptions.RtError as exc:
            raise _translate(exc) from None

    # -- REST2 calls python-rt has no method for ----------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        try:
            resp = self.client.session.request(method, self.url + path, **kwargs)
        except httpx2.TransportError as exc:
            raise BackendUnavailable(NAME, f"RT unreachable: {type(exc).__name__}") from None
        if resp.status_code >= 300:
            raise refusal(resp.status_code, resp.text, resp.headers.get("retry-after"))
        return resp

    def message(self, ticket: str, text: str, *, subject: str, internal: bool = False, status: str | None = None,
                files: Sequence[tuple[str, bytes, str]] = ()) -> str:  # fmt: skip
        """Add a correspondence (public) or comment (internal) with a subject; its transaction id."""
        body: dict[str, Any] = {"Content": text, "ContentType": "text/plain", "Subject": subject}
        if status:
            body["Status"] = status
        path = f"ticket/{ticket}/{'comment' if internal else 'correspond'}"
        if files:
            parts = [("Attachments", (name, data, ctype)) for name, data, ctype in files]
            resp = self._send("POST", path, files=parts, data={"JSON": json.dumps(body)})
        else:
            resp = self._send("POST", path, json=body)
        return resp.headers.get("location", "").rstrip("/").rpartition("/")[2]

    def paged(self, path: str, params: dict[str, str], json_body: Any = None) -> Iterator[dict[str, Any]]:
        """Every item of a REST2 collection, page after page (RT leaves `pages` out for some users)."""
        page = 1
        while True:
            query = {**params, "page": str(page), "per_page": "100"}
            if json_body is None:
                resp = self._send("GET", path, params=query)
            else:
                resp = self._send("POST", path, params=query, json=json_body)
            data = resp.json()
            items = data.get("items") or []
            yield from items
            pages = data.get("pages")
            if not items or (pages is not None and page >= int(pages)) or len(items) < int(data.get("per_page", 100)):
                return
            page += 1

    def ping(self) -> None:
        """RT answers and takes our credentials."""
        self._send("GET", "rt")

    def custom_field_exists(self, name: str) -> bool:
        """Whether a ticket custom field of that name is visible to us."""
        query = [{"field": "Name", "value": name}, {"field": "LookupType", "value": "RT::Queue-RT::Ticket"}]
        return any(True for _ in self.paged("customfields", {}, json_body=query))

    def newest_transaction_id(self) -> int:
        """The id of RT's newest ticket transaction we can see (0 for none)."""
        params = {"query": "ObjectType = 'RT::Ticket'", "orderby": "id", "order": "DESC", "per_page": "1",
                  "fields": "id"}  # fmt: skip
        items = self._send("GET", "transactions", params=params).json().get("items") or []
        return int(items[0]["id"]) if items else 0

    def transactions(self, query: str, fields: str) -> list[dict[str, Any]]:
        """Transactions by TransactionSQL, oldest first, with `fields` and each creator's name and email."""
        params = {"query": query, "fields": fields, "fields[Creator]": "Name,EmailAddress", "orderby": "id",
                  "order": "ASC"}  # fmt: skip
        return list(self.paged("transactions", params))

    def attachments_of(self, transaction_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The parts (text and files) of these transactions, in one search."""
        if not transaction_ids:
            return []
        query = [{"field": "TransactionId", "operator": "IN", "value": [int(t) for t in transaction_ids]}]
        params = {"fields": "TransactionId,ContentType,Content,Filename,Subject"}
        return list(self.paged("attachments", params, json_body=query))
