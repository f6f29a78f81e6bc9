"""A hosted help desk's JSON API (Zammad, Freshdesk, Zendesk): one paced call, its answer read into a typed model.

Each system's module gives its address, its authorization header and how its error bodies read; this client
adds the pacing shared by every worker (a token bucket per system in Redis, taken before each call), the query
string, a JSON or multipart body, and turns every failure into one of the kinds in errors.py (http.py).
Messages name the action and the status, never a URL's query (it may carry a family's address) nor a body.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from workers.backends.errors import BackendUnavailable
from workers.backends.http import Answer, call, error_message, raise_for_status

M = TypeVar("M", bound=BaseModel)


class Reply(BaseModel):
    """What we read of a system's answer: only the fields we use, whatever else it sends."""

    model_config = ConfigDict(extra="ignore")


@dataclass(frozen=True)
class File:
    """One attachment for a multipart body."""

    filename: str
    content_type: str
    data: bytes


def multipart(fields: Iterable[tuple[str, str]], files: Iterable[tuple[str, File]]) -> tuple[bytes, str]:
    """A multipart/form-data body (RFC 7578) and its Content-Type, for a system that takes uploads only so."""
    boundary = "intake-" + secrets.token_hex(16)
    out = bytearray()

    def part(name: str, headers: str, data: bytes) -> None:
        disposition = f'form-data; name="{_quoted(name)}"{headers}'
        out.extend(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode())
        out.extend(data)
        out.extend(b"\r\n")

    for name, value in fields:
        part(name, "", value.encode())
    for name, f in files:
        part(name, f'; filename="{_quoted(f.filename)}"\r\nContent-Type: {f.content_type}', f.data)
    out.extend(f"--{boundary}--\r\n".encode())
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", " ").replace("\n", " ")


@dataclass
class JsonApi:
    """One system's API: `base_url` ends before the paths its module names (`/api/v2/tickets`)."""

    backend: str
    base_url: str
    headers: Mapping[str, str]
    timeout_s: float = 15.0
    ca_file: str = ""
    pace: Callable[[], None] | None = None  # blocks until this call may go (every worker's bucket); may raise
    describe: Callable[[Answer], str] = error_message
    watch: Callable[[Answer], None] | None = None  # sees every answer (Freshdesk learns its allowance from them)

    def call(
        self,
        action: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | Sequence[tuple[str, str | int]] | None = None,
        body: Any = None,
        raw: tuple[bytes, str] | None = None,
        headers: Mapping[str, str] | None = None,
        allow: tuple[int, ...] = (),
    ) -> Answer:
        """One request; an answer outside 2xx (and `allow`) raises its kind of BackendError."""
        if self.pace is not None:
            self.pace()
        url = self.base_url + path + (f"?{urlencode(params)}" if params else "")
        sent = {"Accept": "application/json", "User-Agent": "intake-gateway", **self.headers, **(headers or {})}
        data: bytes | None = None
        if raw is not None:
            data, sent["Content-Type"] = raw
        elif body is not None:
            data, sent["Content-Type"] = json.dumps(body, ensure_ascii=False).encode(), "application/json"
        answer = call(self.backend, action, method, url, body=data, headers=sent, timeout_s=self.timeout_s,
                      ca_file=self.ca_file)  # fmt: skip
        if self.watch is not None:
            self.watch(answer)
        if answer.status not in allow:
            raise_for_status(self.backend, action, answer, self.describe)
        return answer

    def read(self, action: str, answer: Answer, model: type[M]) -> M:
        """The answer as `model`; a 2xx we cannot read is an outage's page (a proxy's), so it is retried."""
        try:
            return model.model_validate_json(answer.body)
        except ValidationError:
            raise BackendUnavailable(self.backend, f"{action}: {answer.status} with an answer we cannot read") from None

    def read_list(self, action: str, answer: Answer, model: type[M]) -> list[M]:
        try:
            return TypeAdapter(list[model]).validate_json(answer.body)  # type: ignore[valid-type]
        except ValidationError:
            raise BackendUnavailable(self.backend, f"{action}: {answer.status} with an answer we cannot read") from None
