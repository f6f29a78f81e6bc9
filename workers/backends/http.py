"""HTTP for backends that speak JSON over HTTP themselves: one call, and what its answer means as a BackendError.

Jobs are synchronous; the call runs aiohttp on a loop of its own. Every failure becomes one of the
kinds in `workers/backends/errors.py`, so the worker decides from the kind alone:
- no answer (refused connection, reset, timeout), 408, 425 or 5xx: BackendUnavailable;
- 429: BackendRateLimited with its Retry-After (seconds or an HTTP date; None when it sent none);
- 401, 403: BackendAuthFailed;
- any other 4xx (and a redirect, which a JSON API never means): BackendRefused with the system's own message.
Messages name the action and the status, never the URL (a hook URL often carries a secret) or the body we sent;
the system's own words are kept only where an operator needs them (a refusal, refused credentials), and the
worker never logs them (workers/runner.py): they are shown, masked, by intake doctor and intake replay.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import aiohttp

from workers.backends.errors import (
    BackendAuthFailed,
    BackendRateLimited,
    BackendRefused,
    BackendUnavailable,
)

MAX_ANSWER_BYTES = 1024 * 1024
MAX_MESSAGE_CHARS = 300
T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from synchronous code, even where a loop already runs in this thread (an in-process test)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def tls_context(ca_file: str) -> ssl.SSLContext | None:
    """A private CA (a district's own, or a test's); None: the system's CAs."""
    if not ca_file:
        return None
    ctx = ssl.create_default_context()
    ctx.load_verify_locations(ca_file)
    return ctx


async def _call(method: str, url: str, body: bytes | None, headers: Mapping[str, str], timeout_s: float,
                ca_file: str) -> Answer:  # fmt: skip
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    connector = aiohttp.TCPConnector(ssl=tls_context(ca_file) or True)
    async with (
        aiohttp.ClientSession(timeout=timeout, connector=connector) as session,
        session.request(method, url, data=body, headers=dict(headers), allow_redirects=False) as resp,
    ):
        data = await resp.content.read(MAX_ANSWER_BYTES)
        return Answer(resp.status, {k.lower(): v for k, v in resp.headers.items()}, data)


def call(
    backend: str,
    action: str,
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 15.0,
    ca_file: str = "",
) -> Answer:
    """One request. Raises BackendUnavailable when no answer came; any answer is returned as it is."""
    try:
        return run_sync(_call(method, url, body, headers or {}, timeout_s, ca_file))
    except TimeoutError:
        raise BackendUnavailable(backend, f"{action}: no answer within {timeout_s:g} s") from None
    except (aiohttp.ClientError, OSError) as exc:
        raise BackendUnavailable(backend, f"{action}: {type(exc).__name__}") from None


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: a number of seconds, or an HTTP date. None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def error_message(answer: Answer) -> str:
    """The system's own words for what is wrong: a JSON error field when there is one, else the start of the text."""
    data = answer.json()
    if isinstance(data, dict):
        for key in ("error", "message", "errors", "description", "detail", "title"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value[:MAX_MESSAGE_CHARS]
            if isinstance(value, list | dict) and value:
                return json.dumps(value, ensure_ascii=False)[:MAX_MESSAGE_CHARS]
    text = answer.body.decode("utf-8", "replace").strip()
    return " ".join(text.split())[:MAX_MESSAGE_CHARS] or "(no message)"


def raise_for_status(
    backend: str, action: str, answer: Answer, describe: Callable[[Answer], str] = error_message
) -> None:
    """Nothing for a 2xx; otherwise the BackendError of the answer's kind, with the system's own message
    (`describe` reads it from a system whose error body has a shape of its own)."""
    status = answer.status
    if 200 <= status < 300:
        return
    # An outage's or a rate limit's page says nothing an operator needs, and may say anything: only the status.
    if status == 429:
        raise BackendRateLimited(backend, f"{action}: 429", retry_after(answer.headers.get("retry-after")))
    if status in (408, 425) or status >= 500:
        raise BackendUnavailable(backend, f"{action}: {status}")
    message = f"{action}: {status} {describe(answer)}"
    if status in (401, 403):
        raise BackendAuthFailed(backend, message)
    if 300 <= status < 400:
        raise BackendRefused(backend, f"{action}: {status} redirected: check the URL")
    raise BackendRefused(backend, message)
