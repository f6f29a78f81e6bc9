"""Riding out a ticket system's outage: one circuit per backend, in Redis, shared by every worker.

Closed, calls go through. A call that finds the system down (BackendUnavailable), asking us to slow
down (BackendRateLimited) or refusing our credentials (BackendAuthFailed) opens it until a time: the
Retry-After, or a backoff that doubles from `backends.outages.hold_initial_s` up to `hold_max_s`.
While it is open, deliver jobs do not call the system: they are *held*, rescheduled for when it may
be back, without spending one of their tries, so an outage of an hour or a day burns nothing. When
that time comes, one job at a time is the probe (a short Redis lease): its answer closes the
circuit, and every held job goes through as it comes back, or opens it again for longer.

A request that the system fails while it answers everything else (one request it chokes on) still
spends its tries and is dead-lettered: its failures come while the circuit is closed.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import redis
from rq import Retry

from gateway import keys
from gateway.settings import OutageSettings
from gateway.store.redis_conn import text
from workers.backends.errors import BackendAuthFailed, BackendError, BackendRateLimited

log = logging.getLogger("intake.backends")

KINDS = {BackendRateLimited: "rate_limited", BackendAuthFailed: "auth_failed"}
# A held job may be held this many times: effectively forever (an hour at a 5 s hold is 720).
HOLDS_MAX = 10**9
UNREAD = object()


@dataclass(frozen=True)
class Admission:
    """Whether a job may call the system now: `hold_s` None means go; `probe` when it tries an open circuit."""

    hold_s: float | None
    probe: bool = False


@dataclass(frozen=True)
class CircuitState:
    """A backend's circuit as an operator reads it (intake doctor, /readyz)."""

    backend: str
    kind: str = "up"  # up, down, rate_limited, auth_failed
    message: str = ""
    since: str = ""
    until: float = 0.0
    failures: int = 0

    @property
    def ok(self) -> bool:
        return self.kind == "up"

    def describe(self, now: float | None = None) -> str:
        if self.ok:
            return "up"
        left = max(0, math.ceil(self.until - (time.time() if now is None else now)))
        words = {"down": "down", "rate_limited": "rate-limiting us", "auth_failed": "refusing our credentials"}
        return (f"{words.get(self.kind, self.kind)} since {self.since} ({self.failures} failed call(s); "
                f"next try in {left} s): {self.message}")  # fmt: skip


def state_from(backend: str, raw: dict[Any, Any]) -> CircuitState:
    fields = {text(k): text(v) for k, v in raw.items()}
    if not fields:
        return CircuitState(backend)
    return CircuitState(backend, fields.get("kind", "down"), fields.get("message", ""), fields.get("since", ""),
                        float(fields.get("until") or 0), int(fields.get("failures") or 0))  # fmt: skip


class Circuit:
    def __init__(self, r: redis.Redis, backend: str, conf: OutageSettings, probe_lease_s: int) -> None:
        self.r = r
        self.backend = backend
        self.conf = conf
        self.key = keys.backend_circuit(backend)
        self.probe_key = keys.backend_probe(backend)
        self.probe_lease_s = max(1, probe_lease_s)
        self.closed_already = False  # by close_in, in the pipeline that recorded the system's answer

    def state(self) -> CircuitState:
        return state_from(self.backend, self.r.hgetall(self.key))

    def admit(self, until: object = UNREAD) -> Admission:
        """Go (closed), go as the probe (open and due), or wait this long (open, or another job is probing).

        `until`: the circuit's `until` field when the caller has just read it with its own reads (`until_in`)."""
        raw = self.r.hget(self.key, "until") if until is UNREAD else until
        if raw is None:
            return Admission(None)
        left = float(text(cast(bytes | str, raw))) - time.time()
        if left > 0:
            return Admission(left)
        if self.r.set(self.probe_key, "1", nx=True, ex=self.probe_lease_s):
            return Admission(None, probe=True)
        return Admission(float(self.conf.hold_initial_s))  # another job is asking right now

    def until_in(self, pipe: redis.client.Pipeline) -> None:
        """Read what `admit` needs in the caller's pipeline."""
        pipe.hget(self.key, "until")

    def release_probe(self) -> None:
        """The probe made no call after all: let the next job probe."""
        self.r.delete(self.probe_key)

    def succeeded(self) -> None:
        """The system answered (a 2xx, or a 4xx that proves it is up): close the circuit if it was open."""
        if not self.closed_already:
            self._closed(self.r.delete(self.key, self.probe_key))

    def close_in(self, pipe: redis.client.Pipeline) -> Callable[[Any], None]:
        """`succeeded` as the last command of the caller's pipeline (the one that records the system's answer): a
        round trip less for every request. The caller passes the pipeline's last answer to what this returns."""
        pipe.delete(self.key, self.probe_key)
        self.closed_already = True
        return self._closed

    def _closed(self, deleted: Any) -> None:
        if deleted:
            log.warning("ticket system back: held requests go through", extra={"backend": self.backend})

    def failed(self, exc: BackendError) -> float:
        """Open (or keep open) the circuit for this failure; returns how long until the next try."""
        kind = next((k for cls, k in KINDS.items() if isinstance(exc, cls)), "down")
        with self.r.pipeline() as pipe:
            pipe.hincrby(self.key, "failures", 1)
            pipe.hget(self.key, "kind")
            pipe.hget(self.key, "since")
            failures, previous, since = pipe.execute()
        streak = int(failures) if text(previous or "") == kind else 1
        wait = self._wait(exc, kind, streak)
        now = time.time()
        with self.r.pipeline() as pipe:
            pipe.hset(self.key, mapping={
                "kind": kind, "message": exc.message[:300], "until": now + wait,
                "since": text(since) if since else datetime.now(UTC).isoformat(timespec="seconds"),
            })  # fmt: skip
            pipe.delete(self.probe_key)
            pipe.execute()
        log.warning("ticket system out of order: holding its requests",
                    extra={"backend": self.backend, "kind": kind, "hold_s": round(wait, 1)})  # fmt: skip
        return wait

    def _wait(self, exc: BackendError, kind: str, streak: int) -> float:
        conf = self.conf
        if isinstance(exc, BackendRateLimited) and exc.retry_after_s is not None:
            return max(1.0, exc.retry_after_s)
        if kind == "auth_failed":
            return float(conf.auth_recheck_s)
        first = conf.rate_limit_wait_s if kind == "rate_limited" else conf.hold_initial_s
        return float(min(conf.hold_max_s, first * 2 ** min(streak - 1, 30)))


def held(hold_s: float) -> Any:
    """What a job returns to be run again in `hold_s` without spending a try (rq's Retry as a return value).

    Held jobs come back spread over a few seconds, so the first of them probes and the rest find the answer.
    rq files the return time in whole seconds, cut down, so the job could come back up to a second before the
    hold ends, meet the hold again and go back to sleep for a whole interval: one more second is asked.
    """
    spread = random.uniform(0, min(5.0, hold_s / 4))
    return Retry(max=HOLDS_MAX, interval=max(1, math.ceil(hold_s + spread) + 1))
