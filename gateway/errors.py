"""One error tree. Each failure mode is a class with its HTTP status; one middleware renders them.

Error bodies are generic and name the field or value that was wrong; they never echo secrets or
message content. Logs carry the detail.
"""

from __future__ import annotations

import errno
import sqlite3
from typing import Any


class IntakeError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str = "", **detail: Any) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.detail = detail

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.detail}

    def headers(self) -> dict[str, str]:
        """Response headers the status calls for (Retry-After on a 429, WWW-Authenticate on a 401)."""
        return {}


class Unauthorized(IntakeError):
    status = 401
    code = "unauthorized"


class OperatorOnly(Unauthorized):
    """An operator endpoint asked without the operator token."""

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="operator"'}


class Forbidden(IntakeError):
    status = 403
    code = "forbidden"


class NotFound(IntakeError):
    status = 404
    code = "not_found"


class BadRequest(IntakeError):
    status = 400
    code = "bad_request"


class Misdirected(IntakeError):
    """The Host header names a host this gateway was not configured as: no link is built from it."""

    status = 421
    code = "misdirected_request"


class PayloadTooLarge(IntakeError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(IntakeError):
    status = 415
    code = "unsupported_media_type"


class Unprocessable(IntakeError):
    status = 422
    code = "invalid_request"


class TooManyRequests(IntakeError):
    """A client or an address over its rate limit (gateway/web/limits.py): try again after `retry_after` s."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Unavailable(IntakeError):
    """Neither Redis nor the local spool could take the message: the provider must retry."""

    status = 503
    code = "unavailable"


class DeliveryFailed(Exception):
    """A provider did not take an outbound message; the job is retried, then dead-lettered.

    Its text names the failure only: a provider library's own exception carries URLs with phone numbers.
    """

    def __init__(self, message: str, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ConfigError(Exception):
    """A configuration problem found at start: names the file, the key and what was expected."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def storage_full(exc: BaseException) -> bool:
    """A full disk (or quota), as the OS or SQLite reports it, anywhere in the chain of causes."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(seen, sqlite3.Error) and getattr(seen, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return True
        seen = seen.__cause__ or seen.__context__
    return False
