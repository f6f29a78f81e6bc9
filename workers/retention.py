"""Forgetting: the gateway's own copies of families' data, after `retention.days`, or at once for a records request.

What a conversation owns in Redis, and is removed with it: its hash, timeline, Message-ID list and
every Message-ID key that points at it, participants, delivery marks, its reply-token, provider-thread
and sender-continuity keys, its ticket mapping, its response clocks, the records of its requests, and
any record a channel kept of a send and named on the timeline (`owned_key`).
rq keeps a dead-lettered job (and the request it carries) for `jobs.failure_ttl_days`, a finished one
for `jobs.result_ttl_s`; the copies kept for `intake rules test --replay` are dropped after `retention.days`.

`purge_requester` is a family's records request (FERPA): every conversation they started, their
requests and the files they sent, the jobs and spooled copies that carry their messages, and their
tickets in the built-in store (an outside ticket system keeps its own records: the district purges
them there). Their opt-out stays: it is a digest, and forgetting it would let us text them again.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import redis
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry
from rq.serializers import JSONSerializer

from gateway import keys
from gateway.intake.conversations import normalize_address, reply_token_for
from gateway.models import utcnow
from gateway.outbox.consent import phone_digest
from gateway.outbox.parked import walk
from gateway.routing.sla import breach_field, clock_member
from gateway.settings import Settings
from gateway.store.blob_stores import open_blobs
from gateway.store.redis_conn import text
from workers.backends import enabled_backends

SCAN_COUNT = 1000
SWEEP_LOCK = f"{keys.PREFIX}:retention:sweep"


@dataclass
class Forgotten:
    conversations: int = 0
    requests: int = 0
    keys: int = 0
    jobs: int = 0
    routed: int = 0
    spooled: int = 0
    tickets: int = 0
    blobs: int = 0

    def add(self, other: Forgotten) -> Forgotten:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def summary(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def conversation_pages(r: redis.Redis, wanted: list[str]) -> Iterator[list[tuple[str, list[str]]]]:
    """Every conversation (its hash's key, not the keys hanging off it) with the `wanted` fields, a SCAN page
    at a time and one pipelined read per page: a district's million conversations in a few thousand round trips."""
    prefix = keys.conversation("")
    cursor = 0
    while True:
        cursor, raw = r.scan(cursor, match=keys.conversation("*"), count=SCAN_COUNT)
        convs = [rest for k in raw if ":" not in (rest := text(k)[len(prefix) :])]
        if convs:
            with r.pipeline(transaction=False) as pipe:
                for conv in convs:
                    pipe.hmget(keys.conversation(conv), wanted)
                values = pipe.execute()
            yield [(conv, [text(v or "") for v in vals]) for conv, vals in zip(convs, values, strict=True)]
        if cursor == 0:
            return


def _owned_keys(r: redis.Redis, conv: str, fields_: dict[str, str]) -> tuple[list[str], list[str]]:
    """(keys to delete, request ids) of one conversation; each Message-ID key only if it still points here."""
    owned = [keys.conversation(conv), keys.timeline(conv), keys.conversation_refs(conv), keys.participants(conv),
             keys.deliveries(conv), keys.reply_token(reply_token_for(conv))]  # fmt: skip
    for mid in (text(m) for m in r.lrange(keys.conversation_refs(conv), 0, -1)):
        if text(r.get(keys.message_id(mid)) or "") == conv:
            owned.append(keys.message_id(mid))
    if fields_.get("provider_conversation") and fields_.get("provider_thread"):
        owned.append(keys.provider_thread(fields_.get("channel", ""), fields_["provider_conversation"],
                                          fields_["provider_thread"]))  # fmt: skip
    sender = fields_.get("sender", "")
    if sender:
        scope = fields_.get("continuity_scope") or fields_.get("account", "")
        latest = keys.sms_latest(scope, phone_digest(sender))
        if text(r.get(latest) or "") == conv:
            owned.append(latest)
    if fields_.get("ticket_ref"):
        # Only its own ticket's: a conversation merged into another ticket points at that one (desk merge).
        ticket_key = keys.ticket(fields_.get("backend", ""), fields_["ticket_ref"])
        if text(r.get(ticket_key) or "") == conv:
            owned += [ticket_key, keys.ticket_merged(fields_.get("backend", ""), fields_["ticket_ref"])]
    requests = {fields_.get("first_request", conv)}
    for raw in r.lrange(keys.timeline(conv), 0, -1):
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        if entry.get("request_id"):
            requests.add(str(entry["request_id"]))
        # A record a channel keeps of one of its sends (a WhatsApp message awaiting its receipts) goes with it.
        owned_key = entry.get("owned_key")
        if isinstance(owned_key, str) and owned_key.startswith(f"{keys.PREFIX}:"):
            owned.append(owned_key)
    return owned, sorted(requests)


def forget_conversations(r: redis.Redis, convs: list[str]) -> Forgotten:
    out = Forgotten()
    for conv in convs:
        fields_ = {text(k): text(v) for k, v in r.hgetall(keys.conversation(conv)).items()}
        owned, requests = _owned_keys(r, conv, fields_)
        with r.pipeline() as pipe:
            pipe.delete(*owned, *(keys.request(rid) for rid in requests))
            if fields_.get("ticket_ref"):
                pipe.srem(keys.ticket_merged(fields_.get("backend", ""), fields_["ticket_ref"]), conv)
            if fields_.get("sender"):
                pipe.zrem(keys.sms_sender_conversations(phone_digest(fields_["sender"])), conv)
            if fields_.get("queue") and fields_.get("priority"):
                members = [clock_member(k, fields_["queue"], fields_["priority"], conv)
                           for k in ("first_response", "resolution")]  # fmt: skip
                pipe.zrem(keys.SLA_DUE, *members)
                pipe.hdel(keys.SLA_BREACHED, *(breach_field(k, conv) for k in ("first_response", "resolution")))
            deleted = pipe.execute()[0]
        out.conversations += 1
        out.requests += len(requests)
        out.keys += int(deleted)
    return out


def _drop_pending(r: redis.Redis, gone: Any) -> int:
    """Replies waiting on a channel's outbound list (keys.pending_outbound) that `gone` says to drop."""
    dropped = 0

    def visit(key: str, raw: bytes | str) -> int:
        nonlocal dropped
        try:
            entry = json.loads(raw)
        except ValueError:
            return 0
        # An entry is {"key", "reply"} (gateway/outbox/parked.py); one parked by an earlier release is the reply.
        reply = entry.get("reply", entry) if isinstance(entry, dict) else None
        if not (isinstance(reply, dict) and gone(reply)):
            return 0
        taken = int(r.lrem(key, 1, text(raw)))
        dropped += taken
        return taken

    for key in r.scan_iter(match=keys.pending_outbound("*"), count=SCAN_COUNT):
        walk(r, text(key), partial(visit, text(key)))
    return dropped


def _drop_from_surges(r: redis.Redis, convs: set[str]) -> int:
    """The surge detector's recent windows (a school and a word of the text) name conversations; a window
    left empty is deleted, so no word of a forgotten message stays behind as a key. They expire in minutes."""
    dropped = 0
    for key in r.scan_iter(match=keys.surge_window("*"), count=SCAN_COUNT):
        if text(r.type(key)) != "zset":
            continue
        if convs and r.zrem(key, *convs):
            dropped += 1
            if not r.zcard(key):
                r.delete(key)
    return dropped


def expired_conversations(r: redis.Redis, older_than: datetime) -> list[str]:
    out = []
    for page in conversation_pages(r, ["last_activity"]):
        for conv, (last,) in page:
            try:
                if last and datetime.fromisoformat(last) < older_than:
                    out.append(conv)
            except ValueError:
                continue
    return out


def _routed_matching(r: redis.Redis, keep: Any) -> int:
    """Drop the copies kept for `rules test --replay` that `keep` says no to. Returns how many went."""
    dropped = 0
    for raw in r.lrange(keys.ROUTED_RECENT, 0, -1):
        try:
            c = json.loads(raw)
        except ValueError:
            continue
        if not keep(c):
            dropped += int(r.lrem(keys.ROUTED_RECENT, 1, text(raw)))
    return dropped


def sweep(r: redis.Redis, settings: Settings, now: datetime | None = None) -> Forgotten:
    """Forget every conversation idle for longer than `retention.days`, and the routed copies as old."""
    horizon = (now or utcnow()) - timedelta(days=settings.retention.days)
    expired = expired_conversations(r, horizon)
    out = forget_conversations(r, expired)
    gone = set(expired)
    if gone:  # nothing parked belongs to a conversation still kept: the lists are not read
        out.keys += _drop_pending(r, lambda reply: reply.get("conversation") in gone)
        out.keys += _drop_from_surges(r, gone)

    def recent(c: dict[str, Any]) -> bool:
        at = str(c.get("message", {}).get("received_at", ""))
        try:
            return datetime.fromisoformat(at) >= horizon and c.get("conversation") not in gone
        except ValueError:
            return False

    out.routed = _routed_matching(r, recent)
    return out


def sweep_if_due(r: redis.Redis, settings: Settings) -> Forgotten | None:
    """Sweep when no worker on any host has swept within `retention.sweep_interval_s`."""
    if not r.set(SWEEP_LOCK, utcnow().isoformat(), nx=True, ex=max(1, int(settings.retention.sweep_interval_s))):
        return None
    return sweep(r, settings)


# A family's records request.


def _mentions(value: Any, who: set[str]) -> bool:
    """Whether a JSON payload names this person: as a sender, recipient, email or phone."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ("sender", "recipient", "email", "phone") and isinstance(v, str) and normalize_address(v) in who:
                return True
            if _mentions(v, who):
                return True
    elif isinstance(value, list):
        return any(_mentions(v, who) for v in value)
    return False


def _their_conversations(r: redis.Redis, who: set[str]) -> list[str]:
    out = []
    for page in conversation_pages(r, ["sender", "email"]):
        for conv, (sender, email) in page:
            if normalize_address(sender) in who or (email and normalize_address(email) in who):
                out.append(conv)
    return out


def _their_jobs(r: redis.Redis, who: set[str], convs: set[str], queues: list[str]) -> int:
    """Jobs still holding their messages: waiting, scheduled (a held text), dead-lettered, or finished minutes ago."""
    removed = 0
    for name in queues:
        ids = {text(j) for j in r.lrange(f"rq:queue:{name}", 0, -1)}
        scheduled = ScheduledJobRegistry(name, connection=r, serializer=JSONSerializer)  # type: ignore[no-untyped-call]
        ids |= {text(j) for j in r.zrange(scheduled.key, 0, -1)}
        ids |= set(FailedJobRegistry(name, connection=r, serializer=JSONSerializer).get_job_ids())
        ids |= set(FinishedJobRegistry(name, connection=r, serializer=JSONSerializer).get_job_ids())
        for job in Job.fetch_many(sorted(ids), connection=r, serializer=JSONSerializer):
            if job is None:
                continue
            args = job.args or []
            payload = args[0] if args else {}
            if _mentions(payload, who) or (isinstance(payload, dict) and payload.get("conversation") in convs):
                job.delete(remove_from_queue=True)
                removed += 1
    return removed


def _their_spooled(data_dir: Path, who: set[str]) -> int:
    """Rows of this host's spools (a web process's, the mail poller's) that carry their messages."""
    removed = 0
    for path in sorted(data_dir.glob("*.sqlite3")):
        db = sqlite3.connect(path, timeout=5, isolation_level=None)
        try:
            if not db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='spool'").fetchone():
                continue
            db.execute("PRAGMA secure_delete=ON")
            for seq, payload in db.execute("SELECT seq, payload FROM spool").fetchall():
                try:
                    if _mentions(json.loads(payload), who):
                        removed += db.execute("DELETE FROM spool WHERE seq = ?", (seq,)).rowcount
                except ValueError:
                    continue
        finally:
            db.close()
    return removed


def purge_requester(r: redis.Redis, settings: Settings, addresses: list[str], queues: list[str]) -> Forgotten:
    """Forget one family everywhere the gateway keeps it. `addresses`: their email and/or E.164 phone."""
    who = {normalize_address(a) for a in addresses if a}
    convs = _their_conversations(r, who)
    out = forget_conversations(r, convs)
    for conv in _all_participated(r, who):
        r.srem(keys.participants(conv), *who)
    out.jobs = _their_jobs(r, who, set(convs), queues)
    out.routed = _routed_matching(r, lambda c: not _mentions(c, who))
    out.keys += _drop_pending(r, lambda reply: reply.get("conversation") in convs or _mentions(reply, who))
    out.keys += _drop_from_surges(r, set(convs))
    out.spooled = _their_spooled(settings.data_path, who)
    blobs = open_blobs(settings)
    emails = [a for a in who if "@" in a]
    phones = [a for a in who if "@" not in a]
    for cls in enabled_backends(settings).values():
        forgotten = cls.from_settings(settings).forget_requester(emails, phones, convs)
        out.tickets += forgotten.tickets
        for key in forgotten.blob_keys:
            out.blobs += blobs.delete(key)
    return out


def _all_participated(r: redis.Redis, who: set[str]) -> list[str]:
    out = []
    for page in conversation_pages(r, ["sender"]):
        with r.pipeline(transaction=False) as pipe:
            for conv, _ in page:
                pipe.smismember(keys.participants(conv), sorted(who))
            found = pipe.execute()
        out += [conv for (conv, _), hits in zip(page, found, strict=True) if any(hits)]
    return out
