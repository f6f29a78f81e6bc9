"""Calling Meta's Graph API from a worker: sends, media lookups and profiles, with errors sorted by what to do.

`channels.meta.graph_url` (META_GRAPH_URL) points the calls elsewhere (a local stand-in in tests). The
token travels in the Authorization header, never in a URL (so never in a log line). Meta answers an
error as `{"error": {"code", "error_subcode", "message"}}`; what matters is what to do about it:
- `retry`: throttling (HTTP 429, codes 4, 17, 32, 613, 80007, 130429, 131056) and outages (5xx, codes
  1, 2, 131000, 131016), or no answer at all: the job is retried with backoff, then dead-lettered;
- `window`: the reply is outside what the conversation allows (WhatsApp 131047; Messenger and Instagram
  (#10) with subcode 2018278 or 2534022): another way out is chosen, never the same send again;
- `unreachable`: this person cannot be reached here ((#551), WhatsApp 131026): another way out;
- `template`: WhatsApp refused the template (132000-132999: missing, paused, wrong parameters);
- `refused`: anything else Meta will refuse every time (a bad token is 190: recorded, and the ticket says so).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import requests

from channels.meta.settings import MetaSettings

# urllib3 logs every request line at DEBUG; a WhatsApp send's path is the district's number id, a profile's
# path is a person's page-scoped id: neither belongs in a log.
logging.getLogger("urllib3").setLevel(logging.WARNING)

ErrorKind = Literal["retry", "window", "unreachable", "template", "refused"]
RETRY_CODES = {1, 2, 4, 17, 32, 341, 613, 80007, 130429, 131000, 131016, 131056, 133004}
WINDOW_SUBCODES = {2018278, 2534022}
WINDOW_CODES = {131047}
UNREACHABLE_CODES = {551, 131026}


@dataclass
class GraphError(Exception):
    """Meta did not take the call. `kind` says what to do about it; the rest is safe to log."""

    kind: ErrorKind
    status: int = 0
    code: int = 0
    subcode: int = 0

    def __str__(self) -> str:
        return f"graph api {self.kind}: HTTP {self.status}, code {self.code}/{self.subcode}"


def classify(status: int, code: int, subcode: int) -> ErrorKind:
    if status == 429 or status >= 500 or code in RETRY_CODES:
        return "retry"
    if code in WINDOW_CODES or (code == 10 and subcode in WINDOW_SUBCODES):
        return "window"
    if code in UNREACHABLE_CODES:
        return "unreachable"
    if 132000 <= code < 133000:
        return "template"
    return "refused"


def _call(conf: MetaSettings, method: str, path: str, token: str, **kwargs: Any) -> dict[str, Any]:
    url = f"{conf.graph_url.rstrip('/')}/{path.lstrip('/')}"
    try:
        resp = requests.request(
            method, url, headers={"Authorization": f"Bearer {token}"}, timeout=conf.api_timeout_s,
            verify=conf.ca_file or True, allow_redirects=False, **kwargs,
        )  # fmt: skip
    except requests.RequestException as exc:
        raise GraphError("retry", 0, 0, 0) from exc
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if resp.status_code >= 400 or "error" in body:
        err = body.get("error")
        code, subcode = (err.get("code"), err.get("error_subcode")) if isinstance(err, dict) else (0, 0)
        code = code if isinstance(code, int) else 0
        subcode = subcode if isinstance(subcode, int) else 0
        raise GraphError(classify(resp.status_code, code, subcode), resp.status_code, code, subcode)
    return body


def post(conf: MetaSettings, path: str, token: str, payload: dict[str, Any]) -> dict[str, Any]:
    return _call(conf, "POST", path, token, json=payload)


def get(conf: MetaSettings, path: str, token: str, params: dict[str, str] | None = None) -> dict[str, Any]:
    return _call(conf, "GET", path, token, params=params or {})
