"""Structured JSON logs with personal data masked.

Code never logs bodies, addresses or secrets on purpose; this filter is the second line of defence:
anything shaped like an email address, a phone number or a bearer token is masked before output.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<![A-Za-z0-9])\+?\d[\d\s().-]{7,}\d(?![A-Za-z0-9])")
_ENCODED_PHONE = re.compile(r"(?i)%2B\d{7,15}")  # a URL-encoded +E.164 in a query string (urllib3's debug lines)
_STATUS_LINK = re.compile(r"/status/[^\s\"'?]+")
# The password in a URL's user part (redis://:password@host, postgresql://user:password@host).
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/@:]*:)[^\s/]+@")
_BEARER = re.compile(r"(?i)(bearer\s+|sha256=|token=|signature=|\bv[01]=)[^\s,;\"']+")

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message", "taskName"}
# rq logs a failed job's arguments (a message, a reply's text and recipient) as extras: never written.
_DROPPED = {"arguments", "kwargs"}


def mask(text: str) -> str:
    text = _URL_PASSWORD.sub(r"\1[redacted]@", text)
    text = _BEARER.sub(r"\1[redacted]", text)
    text = _STATUS_LINK.sub("/status/[link]", text)  # the link is the requester's key to their page
    text = _EMAIL.sub("[email]", text)
    text = _ENCODED_PHONE.sub("[phone]", text)
    return _PHONE.sub(lambda m: "[phone]" if sum(ch.isdigit() for ch in m.group()) >= 8 else m.group(), text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": mask(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key in _DROPPED:
                out[key] = "[dropped]"
            elif key not in _STANDARD and not key.startswith("_"):
                out[key] = mask(value) if isinstance(value, str) else value
        if record.exc_info and record.exc_info[0] is not None:
            out["exc"] = mask(self.formatException(record.exc_info))
        return json.dumps(out, default=str, ensure_ascii=False)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a record comes, like logging's last resort: a command run in-process
    (click's test runner swaps sys.stderr for the run, then closes it) leaves no handler on a closed stream."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


# `intake` commands that run once and exit (tickets, doctor, purge, report...) write warnings and errors only: their
# output is for a person at a terminal or a script reading stdout. The processes (serve, worker, mail, sync, up) run
# at `logging.level`.
ONE_SHOT_LEVEL = "WARNING"


def setup_logging(level: str = "INFO") -> None:
    """Every record as one masked JSON line on stderr, at `level` and above; replaces any handler set before."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = _Stderr()
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    quiet_access_log()


def quiet_access_log() -> None:
    """aiohttp's access log prints full paths and query strings: a status link is a secret."""
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
