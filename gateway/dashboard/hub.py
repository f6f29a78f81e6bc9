"""Each web process's dashboard watchers, kept up to date over server-sent events.

One process-wide loop, not one per watcher: notices of change (changes.py) arrive over one Redis subscription;
the loop waits at least `dashboard.refresh_min_s` between two reads, reads again only the parts whose topic
changed (snapshot.py, in a thread), renders the sections that came out different once per page language, and
hands the same bytes to every watcher. A watcher that reads slowly gets only the newest picture: a queue of one.
With no change, everything is read again every `dashboard.refresh_max_s`. With no watcher, nothing is read.

The commit path only sets a flag (`incoming_committed`): a task publishes one "incoming" notice for whatever
arrived since the last, at most every `NOTICE_EVERY_S`, so a burst of a thousand texts is one notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import redis
import redis.asyncio as aioredis

from gateway import keys
from gateway.dashboard.changes import TOPICS
from gateway.dashboard.snapshot import PARTS, Snapshot, Sources, read_parts
from gateway.store.redis_conn import text
from gateway.tasks import being_cancelled

log = logging.getLogger("intake.dashboard")
NOTICE_EVERY_S = 0.25
RESUBSCRIBE_S = 1.0
# Which parts a notice makes stale.
STALE = {"incoming": {"incoming"}, "tickets": {"tickets"}, "sla": {"sla", "tickets"},
         "incidents": {"incidents"}}  # fmt: skip

Render = Callable[[Snapshot, str], dict[str, str]]  # (snapshot, language) -> {section id: html}


@dataclass
class Frame:
    """One refresh, as its watchers receive it: each section's HTML per language, and which sections changed."""

    version: int
    snapshot: Snapshot
    sections: dict[str, dict[str, str]] = field(default_factory=dict)  # language -> section -> html
    changed: dict[str, frozenset[str]] = field(default_factory=dict)  # language -> sections new in this frame


class Watcher:
    def __init__(self, language: str) -> None:
        self.language = language
        self.queue: asyncio.Queue[Frame] = asyncio.Queue(maxsize=1)

    def offer(self, frame: Frame) -> None:
        if self.queue.full():
            self.queue.get_nowait()  # never behind: the newest picture replaces one not yet sent
        self.queue.put_nowait(frame)


class Hub:
    def __init__(self, sources: Callable[[], Sources], render: Render, refresh_min_s: float, refresh_max_s: float,
                 now: Callable[[], datetime]) -> None:  # fmt: skip
        self._sources = sources
        self._render = render
        self.refresh_min_s = refresh_min_s
        self.refresh_max_s = refresh_max_s
        self._now = now
        self.watchers: set[Watcher] = set()
        self.frame: Frame | None = None
        self._stale: set[str] = set(PARTS)
        self._wake = asyncio.Event()
        self._incoming = False
        self._incoming_event = asyncio.Event()
        self._lock = asyncio.Lock()

    # The commit path's hook (GroupCommitter.on_commit): a flag and an event, nothing else.
    def incoming_committed(self) -> None:
        self._incoming = True
        self._incoming_event.set()

    def heard(self, topic: str) -> None:
        self._stale |= STALE.get(topic, set())
        self._wake.set()

    async def join(self, language: str) -> tuple[Watcher, Frame]:
        """A new watcher and the current picture (read now if this process has none that is fresh)."""
        watcher = Watcher(language)
        self.watchers.add(watcher)
        frame = self.frame
        if frame is None or (self._now() - frame.snapshot.at).total_seconds() > self.refresh_max_s:
            frame = await self.refresh(set(PARTS))
        return watcher, frame

    def leave(self, watcher: Watcher) -> None:
        self.watchers.discard(watcher)

    def sections(self, frame: Frame, language: str) -> dict[str, str]:
        if language not in frame.sections:
            frame.sections[language] = self._render(frame.snapshot, language)
        return frame.sections[language]

    async def refresh(self, parts: set[str]) -> Frame:
        async with self._lock:
            previous = self.frame
            base = previous.snapshot if previous else Snapshot(at=self._now())
            sources = self._sources()
            snap = await asyncio.to_thread(read_parts, sources, base, parts, self._now())
            frame = Frame((previous.version + 1) if previous else 1, snap)
            for lang in {w.language for w in self.watchers}:
                now = self.sections(frame, lang)
                before = self.sections(previous, lang) if previous else {}
                frame.changed[lang] = frozenset(k for k, v in now.items() if before.get(k) != v)
            self.frame = frame
            return frame

    async def run(self) -> None:
        """Refresh when told, at most every refresh_min_s, and every refresh_max_s in any case."""
        last = 0.0
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.refresh_max_s)
            except TimeoutError:
                self._stale = set(PARTS)
            self._wake.clear()
            wait = self.refresh_min_s - (time.monotonic() - last)
            if wait > 0:
                await asyncio.sleep(wait)
            if not self.watchers:
                self.frame = None  # read afresh for the next watcher; nothing to read for nobody
                self._stale = set(PARTS)
                continue
            parts, self._stale = self._stale or set(PARTS), set()
            last = time.monotonic()
            try:
                frame = await self.refresh(parts)
            except Exception as exc:
                log.warning("dashboard refresh failed", extra={"error": type(exc).__name__})
                self._stale |= parts
                continue
            for w in list(self.watchers):
                if frame.changed.get(w.language):
                    w.offer(frame)

    async def publish_incoming(self, client: aioredis.Redis) -> None:
        """One "incoming" notice for whatever the commit path committed since the last one."""
        while True:
            await self._incoming_event.wait()
            self._incoming_event.clear()
            if self._incoming:
                self._incoming = False
                try:
                    await client.publish(keys.DASH_CHANGES, "incoming")
                except Exception as exc:
                    if being_cancelled():
                        raise asyncio.CancelledError from exc
                    self.heard("incoming")  # this process's own watchers still see it
            await asyncio.sleep(NOTICE_EVERY_S)

    async def listen(self, client: aioredis.Redis) -> None:
        """Every notice any process publishes; after Redis comes back, everything is read again."""
        while True:
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(keys.DASH_CHANGES)
                self.heard("incoming")
                self._stale = set(PARTS)
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and text(message["data"]) in TOPICS:
                        self.heard(text(message["data"]))
            except Exception as exc:
                if being_cancelled():
                    raise asyncio.CancelledError from exc
                log.warning("dashboard notices: subscription lost", extra={"error": type(exc).__name__})
                await asyncio.sleep(RESUBSCRIBE_S)
            finally:
                with contextlib.suppress(redis.RedisError, OSError):
                    await pubsub.aclose()
