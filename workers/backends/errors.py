"""How a ticket system says no: one exception per kind of failure, each with what the worker does about it.

A backend raises these from its calls; the deliver and status jobs decide from the kind alone, so
every backend's errors mean the same thing: wait, retry, stop retrying, or tell an operator.
"""

from __future__ import annotations


class BackendError(Exception):
    """A ticket system did not do what we asked. `backend` names it; the message never carries personal data."""

    def __init__(self, backend: str, message: str) -> None:
        super().__init__(f"{backend}: {message}")
        self.backend = backend
        self.message = message


class BackendUnavailable(BackendError):
    """The system is down, slow or answered 5xx: the call may work later, so the job is retried with backoff."""


class BackendRateLimited(BackendError):
    """The system asked us to slow down (429): wait `retry_after_s` (a default when it gave none), then retry."""

    def __init__(self, backend: str, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(backend, message)
        self.retry_after_s = retry_after_s


class BackendRefused(BackendError):
    """A 4xx that says what is wrong (an unknown queue, a field the system rejects): retrying cannot help.

    The job is dead-lettered at once with the system's own message, for an operator to fix and replay.
    """


class BackendAuthFailed(BackendError):
    """Our credentials were refused (401/403): nothing will work until an operator fixes them.

    Shown by `intake doctor` and `/readyz`; the job waits like an outage rather than being lost.
    """
