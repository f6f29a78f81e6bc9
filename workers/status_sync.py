"""`intake sync`: status changes and staff answers from ticket systems that send no webhooks (RT, Redmine).

For every enabled backend whose `status_source` includes "polling", one loop asks `poll_changes(checkpoint)`
every `sync.interval_s`: everything changed since the checkpoint, in one query. Each change is published
as a StatusEvent (idempotent on its delivery id: the events worker tells the family once), and only then
is the new checkpoint written, so a crash between the two repeats events rather than losing them.

One poller per system across every instance: the loop holds a Redis lock per system, as the mail poller
does per mailbox; another instance polls nothing for a system until the holder stops renewing it. A poll
that fails (the system is down, Redis blinked, a bug in one reply) is logged, counted in the system's
health record (`intake doctor`), and tried again after a backoff that doubles up to `sync.backoff_max_s`;
the loop itself goes on. If the loop dies nonetheless, `sync_main` says so and returns 1.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Mapping

import redis
from redis.exceptions import LockError

from gateway import keys
from gateway.models import utcnow
from gateway.settings import Settings
from gateway.store.redis_conn import text
from workers import context
from workers.backends import enabled_backends
from workers.backends.base import TicketBackend
from workers.backends.errors import BackendError
from workers.status_events import publish_status_event

log = logging.getLogger("intake.sync")

LOCK_TTL_MIN_S = 60.0


def polling_backends(settings: Settings) -> dict[str, TicketBackend]:
    """The enabled backends whose status comes back by polling, built once."""
    return {name: cls.from_settings(settings) for name, cls in enabled_backends(settings).items()
            if "polling" in cls.status_source}  # fmt: skip


class Poller:
    """One system's polling: its lock, its checkpoint, its backoff."""

    def __init__(self, r: redis.Redis, settings: Settings, name: str, backend: TicketBackend) -> None:
        self.r = r
        self.name = name
        self.backend = backend
        self.interval = settings.sync.interval_s
        self.backoff_max = settings.sync.backoff_max_s
        self.lock_ttl = max(LOCK_TTL_MIN_S, 3 * self.interval)
        self.lock = r.lock(keys.sync_lock(name), timeout=self.lock_ttl, thread_local=False)
        self.held = False
        self.failures = 0
        self.next_at = 0.0

    def _hold(self) -> bool:
        """Take the system's lock, or renew it; False while another instance holds it."""
        if self.held:
            try:
                self.lock.reacquire()
                return True
            except LockError:
                self.held = False  # our lease ran out and another instance may have it now
        self.held = bool(self.lock.acquire(blocking=False))
        return self.held

    def poll_once(self) -> int:
        """One query for everything changed since the checkpoint; publish each change, then move the checkpoint."""
        checkpoint = text(self.r.get(keys.sync_checkpoint(self.name)) or "")
        events, after = self.backend.poll_changes(checkpoint)
        for event in events:
            publish_status_event(event)
        with self.r.pipeline() as pipe:
            pipe.set(keys.sync_checkpoint(self.name), after)
            pipe.hset(keys.sync_health(self.name), mapping={"ok_at": utcnow().isoformat(), "failures": 0, "error": ""})
            pipe.execute()
        if events:
            log.info("status changes polled", extra={"backend": self.name, "count": len(events)})
        return len(events)

    def step(self) -> None:
        """Poll if this instance holds the system. Never raises for a failed poll: it backs off instead."""
        try:
            if not self._hold():
                self.next_at = time.monotonic() + self.lock_ttl / 4  # another instance polls this system
                return
            self.poll_once()
        except Exception as exc:
            self.failures += 1
            wait = min(self.backoff_max, self.interval * 2 ** min(self.failures - 1, 30))
            error = f"{type(exc).__name__}: {exc.message}" if isinstance(exc, BackendError) else type(exc).__name__
            extra = {"backend": self.name, "error": type(exc).__name__, "retry_in_s": round(wait, 1)}
            log.warning("status poll failed; trying again", extra=extra)
            with contextlib.suppress(redis.RedisError):  # if Redis is what failed, the log line says so
                self.r.hset(keys.sync_health(self.name), mapping={"failures": self.failures, "error": error[:300]})
            self.next_at = time.monotonic() + wait
            return
        self.failures = 0
        self.next_at = time.monotonic() + self.interval

    def release(self) -> None:
        if self.held:
            with contextlib.suppress(LockError, redis.RedisError):  # else the lease runs out by itself
                self.lock.release()
            self.held = False


def run_sync(settings: Settings, stop: threading.Event, backends: Mapping[str, TicketBackend] | None = None) -> None:
    """Poll until `stop` is set. An exception that escapes this loop is its death: the caller exits non-zero."""
    r = context.connection()
    pollers = [Poller(r, settings, name, b) for name, b in (backends or polling_backends(settings)).items()]
    try:
        while not stop.is_set():
            for poller in pollers:
                if time.monotonic() >= poller.next_at:
                    poller.step()
            soonest = min((p.next_at for p in pollers), default=time.monotonic() + 1)
            stop.wait(max(0.05, soonest - time.monotonic()))
    finally:
        for poller in pollers:
            poller.release()


def sync_main(settings: Settings, stop: threading.Event, backends: Mapping[str, TicketBackend] | None = None) -> int:
    """`intake sync`'s exit code: 0 when told to stop, 1 when the loop died."""
    try:
        run_sync(settings, stop, backends)
    except (Exception, SystemExit) as exc:  # a plug-in calling sys.exit() kills the loop as surely as a bug
        log.error("status sync stopped: its loop died", extra={"error": type(exc).__name__})
        return 1
    return 0
