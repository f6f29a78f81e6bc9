"""The IMAP poller (`intake mail`): fetch, commit, and only then move, one mailbox at a time per lock.

For each batch: fetch by UID with BODY.PEEK[], decide and commit every message through the same
pipeline as the webhooks, move the committed ones to the processed folder (the unparseable ones to
quarantine), then advance the (UIDVALIDITY, last UID) checkpoint. A crash anywhere in between leaves
the message in the inbox, and the next pass finds it a duplicate and just moves it: one ticket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from channels.email.intake import MailDecision
from gateway import keys
from gateway.intake.pipeline import Arrival, Pipeline
from gateway.mail.answers import RELAYED, HelpDeskMail
from gateway.mail.imap import ImapSession, LoginFailed
from gateway.mail.lock import LostLock, MailboxLock
from gateway.mail.parsing import MailParsers
from gateway.metrics import Metrics
from gateway.models import utcnow
from gateway.settings import EmailSettings, Mailbox
from gateway.tasks import being_cancelled, cancel_and_wait, stop_if_cancelled

log = logging.getLogger("intake.mail")

# Runs fetched and not yet moved: one being committed and moved, one parsing, one waiting to be parsed.
RUNS_IN_FLIGHT = 3


class _Room:
    """What the reader may hold: at most `runs` runs fetched and not yet moved, together at most `limit` bytes
    (channels.email.max_message_bytes, what one fetch may hold), or a single run of any size when it holds none."""

    def __init__(self, runs: int, limit: int) -> None:
        self.runs, self.limit = runs, limit
        self.held_runs = self.held_bytes = 0
        self._changed = asyncio.Condition()

    async def take(self, size: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._fits(size))
            self.held_runs += 1
            self.held_bytes += size

    def _fits(self, size: int) -> bool:
        return not self.held_runs or (self.held_runs < self.runs and self.held_bytes + size <= self.limit)

    async def give(self, size: int) -> None:
        async with self._changed:
            self.held_runs -= 1
            self.held_bytes -= size
            self._changed.notify_all()


@dataclass(frozen=True, slots=True)
class _Step:
    """What the reader hands on, in the mailbox's order: a run to finish, a count of messages it quarantined
    unread, the end of a batch (its checkpoint), or the error that stopped it."""

    uids: list[int] = field(default_factory=list)
    raws: dict[int, bytes] = field(default_factory=dict)
    size: int = 0  # the run's RFC822.SIZE
    decided: asyncio.Task[dict[int, MailDecision]] | None = None
    unread: int = 0
    checkpoint: int = 0
    last: bool = False
    failed: Exception | None = None


def _drain(steps: asyncio.Queue[_Step]) -> list[_Step]:
    out = []
    while not steps.empty():
        out.append(steps.get_nowait())
    return out


class MailboxPoller:
    def __init__(
        self,
        name: str,
        box: Mailbox,
        conf: EmailSettings,
        parsers: MailParsers,
        pipeline: Pipeline,
        redis: aioredis.Redis,
        metrics: Metrics,
        help_desks: HelpDeskMail | None = None,
    ) -> None:
        self.name = name
        self.help_desks = help_desks
        self.box = box
        self.conf = conf
        self.parsers = parsers
        self.pipeline = pipeline
        self.redis = redis
        self.metrics = metrics
        self.session = ImapSession(box.imap)
        self.lock = MailboxLock(redis, keys.mail_lock(name), conf.lock_ttl_s)
        self._delay = 1.0
        self._started = False

    async def run_forever(self) -> None:
        """Hold the mailbox's lock and poll. No error of one round ends the loop, Redis's included (redis-py's
        errors are not OSErrors): it backs off, capped and jittered, and tries again. Only cancellation stops it."""
        while True:
            try:
                await self._note_start()
                if not await self.lock.acquire():
                    await asyncio.sleep(self.conf.lock_ttl_s / 4)  # another instance polls this mailbox
                    continue
                await self._hold_and_poll()
            except LoginFailed:
                log.warning("mailbox login failed", extra={"mailbox": self.name})
                with contextlib.suppress(Exception):
                    await self.redis.hincrby(keys.mail_health(self.name), "login_failures", 1)
            except Exception as exc:
                # A library may turn our own cancellation into any error: then stop, never reconnect.
                if being_cancelled():
                    raise asyncio.CancelledError from exc
                await self._note_error(exc)
            stop_if_cancelled()
            await asyncio.sleep(self._delay * (0.5 + random.random()))
            self._delay = min(self._delay * 2, self.conf.reconnect_max_s)

    async def _note_start(self) -> None:
        if not self._started:
            await self.redis.hset(keys.mail_health(self.name), "started_at", utcnow().isoformat())
            self._started = True

    async def _hold_and_poll(self) -> None:
        """Poll while the lock is ours. The session never ends by itself, so whichever ends first ends both:
        a session that failed, or a lock we could not renew (another instance may hold it by now)."""
        keeper = asyncio.create_task(self._keep_lock(), name=f"mail-lock:{self.name}")
        session = asyncio.create_task(self._session(), name=f"mail-session:{self.name}")
        try:
            await asyncio.wait({keeper, session}, return_when=asyncio.FIRST_COMPLETED)
            ended = session if session.done() else keeper
            ended.result()  # raises what ended it
        finally:
            await cancel_and_wait(*(t for t in (keeper, session) if not t.done()))
            await self.session.close()
            with contextlib.suppress(Exception):
                await self.lock.release()

    async def _note_error(self, exc: BaseException) -> None:
        log.warning(
            "mailbox connection failed; reconnecting", extra={"mailbox": self.name, "error": type(exc).__name__}
        )
        with contextlib.suppress(Exception):
            await self.redis.hset(keys.mail_health(self.name), "last_error", type(exc).__name__)

    async def _keep_lock(self) -> None:
        while True:
            await asyncio.sleep(self.conf.lock_ttl_s / 3)
            try:
                await self.lock.renew()
            except LostLock:
                raise
            except Exception as exc:
                if being_cancelled():
                    raise asyncio.CancelledError from exc
                raise LostLock(f"could not renew the mailbox lock: {type(exc).__name__}") from exc
            stop_if_cancelled()

    async def _session(self) -> None:
        await self.session.connect()
        await self.redis.hset(keys.mail_health(self.name), mapping={"login_failures": 0, "last_error": ""})
        for folder in (self.box.processed_folder, self.box.quarantine_folder):
            await self.session.ensure_folder(folder)
        while True:
            await self.pass_once()
            stop_if_cancelled()
            self._delay = 1.0  # a good pass: the next failure starts the backoff over
            await self.session.wait_for_news(min(self.conf.poll_interval_s, self.conf.idle_renew_s))

    async def pass_once(self) -> int:
        """One pass over the inbox: everything after the checkpoint. Returns how many messages were handled."""
        selected = await self.session.select(self.box.folder)
        ckpt = await self.redis.hgetall(keys.mail_checkpoint(self.name))
        last = int(ckpt.get("last_uid", 0))
        if int(ckpt.get("uidvalidity", 0)) != selected.uidvalidity:
            # UIDs were renumbered: start over; Message-ID dedupe keeps it from doubling anything.
            if ckpt:
                log.warning("UIDVALIDITY changed: rescanning", extra={"mailbox": self.name})
            last = 0
        uids = await self.session.uids_after(last)
        handled = await self._handle(uids, selected.uidvalidity) if uids else 0
        now = utcnow().isoformat()
        await self.redis.hset(keys.mail_health(self.name), "checked_at", now)
        if handled:
            await self.redis.hset(keys.mail_health(self.name), "last_message_at", now)
        return handled

    async def _handle(self, uids: list[int], uidvalidity: int) -> int:
        """Every message of `uids`, in batches of fetch_batch, each committed and then moved in the mailbox's order.

        A reader fetches the next runs and hands them to the parsing processes while this task commits and moves
        the one before them: the fetch, the parse, the commit and the move of one batch were each waited for in
        turn. At most RUNS_IN_FLIGHT runs are held at once (fetched and not yet moved), together no more than one
        fetch may hold (max_message_bytes), so what this process holds stays bounded as before. A batch is
        resolved only after every batch before it was submitted for commit, so threading sees them all; the
        checkpoint moves past a batch only once every message in it was moved."""
        steps: asyncio.Queue[_Step] = asyncio.Queue()
        room = _Room(RUNS_IN_FLIGHT, self.conf.max_message_bytes)
        reader = asyncio.create_task(self._read(uids, steps, room), name=f"mail-read:{self.name}")
        handled = 0
        step = _Step()
        moving: asyncio.Task[None] | None = None  # the run before's move, while this run commits
        try:
            while True:
                step = await steps.get()
                if step.failed is not None:
                    raise step.failed
                if step.decided is not None:
                    decisions = await step.decided
                    await self._commit(step.raws, decisions)
                    if moving is not None:
                        await moving  # moves stay in the mailbox's order, one at a time
                    moving = asyncio.create_task(self._move(decisions, room, step.size), name=f"mail-move:{self.name}")
                    handled += len(decisions)
                handled += step.unread
                if step.checkpoint:
                    if moving is not None:
                        await moving  # the checkpoint passes only what has been moved
                        moving = None
                    await self.redis.hset(
                        keys.mail_checkpoint(self.name),
                        mapping={"uidvalidity": uidvalidity, "last_uid": step.checkpoint},
                    )
                if step.last:
                    return handled
        finally:
            await cancel_and_wait(reader, *([moving] if moving is not None else []))
            # Runs read ahead and never finished: their parsing is stopped, their mail stays in the inbox.
            left = [s.decided for s in (step, *_drain(steps)) if s.decided is not None]
            await cancel_and_wait(*left)

    async def _read(self, uids: list[int], steps: asyncio.Queue[_Step], room: _Room) -> None:
        """Sizes first: a message over max_message_bytes is quarantined unread, the rest are fetched in runs of
        at most max_message_bytes together and sent to be parsed, each run as soon as there is room for it."""
        try:
            batch = self.conf.fetch_batch
            for start in range(0, len(uids), batch):
                chunk = uids[start : start + batch]
                sizes = await self.session.sizes(chunk)
                limit = self.conf.max_message_bytes
                oversized = {uid: size for uid, size in sizes.items() if size > limit}
                if oversized:
                    steps.put_nowait(_Step(unread=await self._quarantine_unread(oversized)))
                runs: list[list[int]] = [[]]
                held = 0
                for uid in sorted(u for u in sizes if u not in oversized):
                    if runs[-1] and held + sizes[uid] > limit:
                        runs.append([])
                        held = 0
                    runs[-1].append(uid)
                    held += sizes[uid]
                for run in (r for r in runs if r):
                    size = sum(sizes[uid] for uid in run)
                    await room.take(size)
                    raws = await self.session.fetch(run)
                    # Parsed in the worker processes, which make the run's files durable before answering: before
                    # anything that refers to them is committed.
                    decided = asyncio.create_task(self.parsers.decide(raws, self.name), name=f"mail-parse:{self.name}")
                    steps.put_nowait(_Step(uids=run, raws=raws, size=size, decided=decided))
                steps.put_nowait(_Step(checkpoint=chunk[-1], last=start + batch >= len(uids)))
        except Exception as exc:
            steps.put_nowait(_Step(failed=exc))

    async def _quarantine_unread(self, oversized: dict[int, int]) -> int:
        await self.session.move(sorted(oversized), self.box.quarantine_folder)
        limit = self.conf.max_message_bytes
        for uid, size in sorted(oversized.items()):
            reason = (f"too large to fetch: {size:,} bytes, over channels.email.max_message_bytes ({limit:,}); "
                      "not downloaded, open it in the mail client")  # fmt: skip
            await self._quarantine_note(uid, MailDecision("quarantine", reason=reason))
        return len(oversized)

    async def _commit(self, raws: dict[int, bytes], decisions: dict[int, MailDecision]) -> None:
        """Commit a run's requests and note the rest. Its move follows in a task of its own, so that the next run's
        commit (Redis) and this run's move (IMAP) each wait on their own server at the same time: one after another
        they were most of a run's time while the parsing process waited for work."""
        await self._help_desk_mail(decisions)
        # In the mailbox's order, so that a follow-up fetched with the message it answers joins it.
        arrivals = [
            Arrival(d.message, raws[uid], threaded_only_reason(d))
            for uid, d in sorted(decisions.items())
            if d.kind == "request" and d.message is not None
        ]
        await self.pipeline.accept_all(arrivals, scope="email")
        for uid in decisions:
            await self._note(decisions[uid])

    async def _move(self, decisions: dict[int, MailDecision], room: _Room, size: int) -> None:
        """Move a committed run out of the inbox (the unparseable to quarantine, with their notes), then make room
        for the reader."""
        quarantined = [uid for uid, d in decisions.items() if d.kind == "quarantine"]
        done = [uid for uid in decisions if uid not in quarantined]
        await self.session.move(done, self.box.processed_folder)
        await self.session.move(quarantined, self.box.quarantine_folder)
        for uid in quarantined:
            await self._quarantine_note(uid, decisions[uid])
        await room.give(size)

    async def _help_desk_mail(self, decisions: dict[int, MailDecision]) -> None:
        """A help desk's mail is never a request: its answers on a relay address are queued as status events
        here, before the batch is moved (gateway/mail/answers.py)."""
        if self.help_desks is None:
            return
        for uid, d in sorted(decisions.items()):
            if d.kind == "request" and d.message is not None:
                taken = await self.help_desks.take(d.message)
                if taken is not None:
                    decisions[uid] = MailDecision("help_desk", reason=taken)

    async def _note(self, d: MailDecision) -> None:
        if d.kind == "bounce":
            stamp = utcnow().isoformat()
            for addr in d.bounced:
                await self.redis.hset(keys.MAIL_UNDELIVERABLE, addr.lower(), stamp)
            self.metrics.ignored.labels("email", "bounce").inc()
        elif d.kind == "loop":
            self.metrics.ignored.labels("email", "loop").inc()
        elif d.kind == "help_desk" and d.reason != RELAYED:
            self.metrics.ignored.labels("email", d.reason).inc()

    async def _quarantine_note(self, uid: int, d: MailDecision) -> None:
        note = {"mailbox": self.name, "folder": self.box.quarantine_folder, "uid": uid, "reason": d.reason,
                "at": utcnow().isoformat()}  # fmt: skip
        await self.redis.lpush(keys.MAIL_QUARANTINE, json.dumps(note))
        self.metrics.ignored.labels("email", "quarantined").inc()
        log.warning("message quarantined for an operator", extra={"mailbox": self.name, "uid": uid})


def threaded_only_reason(d: MailDecision) -> str:
    """An automatic reply (out of office) is added to the conversation it answers, and otherwise dropped."""
    return "auto_reply_without_conversation" if d.only_if_threaded else ""
