"""Incidents (parent/child), stored in Redis: one outage, one parent ticket, many linked requests.

An incident is `proposed` (by the surge detector; it links and messages nobody), `open` (links
matching requests), then `closed` or `dismissed`. Its `status` is the parent ticket's, and what a
linked requester is told. Linking and recording an update are each one atomic script, so every
child either was linked before an update (and the update's fan-out reaches it) or was linked after
it (and its acknowledgement already carries the new status): nobody is skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import redis
from pydantic import BaseModel, ConfigDict

from gateway import keys
from gateway.incidents.match import MatchCriteria
from gateway.models import TicketStatus
from gateway.store.redis_conn import text

State = Literal["proposed", "open", "closed", "dismissed"]
Origin = Literal["operator", "rule", "surge"]
STATE_SETS: dict[str, str] = {"open": keys.INCIDENTS_ACTIVE, "proposed": keys.INCIDENTS_PROPOSED}
# A resolved incident stops taking new requests: a report after the fix is a new problem, not this one.
FINAL_STATUSES = (TicketStatus.RESOLVED, TicketStatus.CLOSED)
UPDATE_FIELDS = frozenset({"status", "message", "seq"})

LINK_SCRIPT = """
-- KEYS: incident hash, children list, children set. ARGV[1]: conversation.
-- Returns {linked (1 new, 0 already), status, message, seq}, read in the same step as the link.
local linked = 0
if redis.call('SADD', KEYS[3], ARGV[1]) == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  linked = 1
end
local h = redis.call('HMGET', KEYS[1], 'status', 'message', 'seq')
return {linked, h[1] or '', h[2] or '', h[3] or '0'}
"""

UPDATE_SCRIPT = """
-- KEYS: incident hash, children list, updates list, pending fan-outs set, [the source event's dedupe key].
-- ARGV: status, message, at, id. Records the update and how many children it owes a message to, in one
-- step with respect to linking. The fan-out progress key is the incident hash's key plus ':fanout:<seq>'.
-- With a dedupe key, an event seen before records nothing and returns {-1, 0}.
if KEYS[5] and not redis.call('SET', KEYS[5], '1', 'NX', 'EX', 2592000) then return {-1, 0} end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'message', ARGV[2], 'updated_at', ARGV[3])
local total = redis.call('LLEN', KEYS[2])
redis.call('RPUSH', KEYS[3], cjson.encode({seq = seq, status = ARGV[1], message = ARGV[2], at = ARGV[3],
                                          children = total}))
redis.call('HSET', KEYS[1] .. ':fanout:' .. seq, 'total', total, 'done', 0)
redis.call('SADD', KEYS[4], ARGV[4] .. ':' .. seq)
return {seq, total}
"""


class Incident(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    state: State
    status: TicketStatus = TicketStatus.OPEN
    message: str = ""
    criteria: MatchCriteria
    backend: str
    parent_ref: str = ""
    origin: Origin = "operator"
    opened_at: datetime
    updated_at: datetime
    seq: int = 0
    children: int = 0

    @property
    def links(self) -> bool:
        """Whether a new matching request is linked to this incident now."""
        return self.state == "open" and self.status not in FINAL_STATUSES and bool(self.parent_ref)

    def fields(self) -> dict[str, str]:
        """The hash fields an operator's action sets. Status, message and seq belong to recorded updates."""
        data = self.model_dump(mode="json", exclude={"children", "criteria", *UPDATE_FIELDS})
        return {**{k: str(v) for k, v in data.items()}, "criteria": self.criteria.model_dump_json()}


@dataclass(frozen=True, slots=True)
class Link:
    incident: str
    new: bool
    status: str
    message: str
    seq: int


@dataclass(frozen=True, slots=True)
class Update:
    seq: int
    status: str
    message: str
    at: str
    children: int


def _incident(raw: dict[Any, Any], count: int) -> Incident | None:
    if not raw:
        return None
    data: dict[str, Any] = {text(k): text(v) for k, v in raw.items()}
    data["criteria"] = MatchCriteria.model_validate_json(data["criteria"])
    data["children"] = int(count)
    return Incident.model_validate(data)


class IncidentStore:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client
        self._link = client.register_script(LINK_SCRIPT)
        self._update = client.register_script(UPDATE_SCRIPT)

    def next_id(self) -> str:
        return str(int(self.r.incr(keys.INCIDENT_SEQ)))

    def save(self, inc: Incident) -> None:
        with self.r.pipeline() as pipe:
            pipe.hset(keys.incident(inc.id), mapping=inc.fields())  # type: ignore[arg-type]
            # Only a new incident's: an update recorded meanwhile must not be overwritten by a stale copy.
            pipe.hsetnx(keys.incident(inc.id), "status", inc.status.value)
            pipe.hsetnx(keys.incident(inc.id), "message", inc.message)
            pipe.zadd(keys.INCIDENTS, {inc.id: inc.opened_at.timestamp()})
            for state, key in STATE_SETS.items():
                if state == inc.state:
                    pipe.sadd(key, inc.id)
                else:
                    pipe.srem(key, inc.id)
            if inc.parent_ref:
                pipe.set(keys.incident_by_ticket(inc.backend, inc.parent_ref), inc.id)
            pipe.execute()

    def get(self, incident_id: str) -> Incident | None:
        return self._many([incident_id])[0]

    def _many(self, ids: list[str]) -> list[Incident | None]:
        """The incidents with these ids (None for one that is gone), read in one round trip."""
        if not ids:
            return []
        with self.r.pipeline() as pipe:
            for incident_id in ids:
                pipe.hgetall(keys.incident(incident_id))
                pipe.scard(keys.incident_child_set(incident_id))  # linked now: one unlinked at the desk is not
            replies = pipe.execute()
        return [_incident(raw, count) for raw, count in zip(replies[::2], replies[1::2], strict=True)]

    def all(self) -> list[Incident]:
        ids = [text(i) for i in self.r.zrange(keys.INCIDENTS, 0, -1)]
        return [inc for inc in self._many(ids) if inc is not None]

    def in_state(self, state: State) -> list[Incident]:
        return self.in_states((state,))[state]

    def in_states(self, states: tuple[State, ...]) -> dict[State, list[Incident]]:
        """The incidents in each of these states (open, proposed), oldest first: two round trips for them all."""
        with self.r.pipeline(transaction=False) as pipe:
            for state in states:
                pipe.smembers(STATE_SETS[state])
            members = pipe.execute()
        ids = {state: sorted((text(i) for i in found), key=int) for state, found in zip(states, members, strict=True)}
        read = iter(self._many([i for state in states for i in ids[state]]))
        return {state: [inc for inc in (next(read) for _ in ids[state]) if inc is not None] for state in states}

    def by_ticket(self, backend: str, ref: str) -> str | None:
        found = self.r.get(keys.incident_by_ticket(backend, ref))
        return None if found is None else text(found)

    def link(self, incident_id: str, conversation: str) -> Link:
        """Add a conversation to the incident's children (once), reading the status it should be told."""
        k = [keys.incident(incident_id), keys.incident_children(incident_id), keys.incident_child_set(incident_id)]
        new, status, message, seq = self._link(keys=k, args=[conversation])
        return Link(incident_id, int(new) == 1, text(status), text(message), int(seq))

    def unlink(self, incident_id: str, conversation: str) -> bool:
        """Take a conversation off the incident's children (a desk's unlink): later updates' fan-outs skip it.

        It stays in the ordered list, whose positions a fan-out under way counts by; `children` leaves it out."""
        return bool(self.r.srem(keys.incident_child_set(incident_id), conversation))

    def record_update(
        self, incident_id: str, status: TicketStatus, message: str, at: datetime, event_id: str | None = None
    ) -> tuple[int, int]:
        """Record an update before anyone is told. Returns (sequence number, children it must reach).

        With `event_id` (a backend's status event), an event already recorded returns (-1, 0).
        """
        k = [keys.incident(incident_id), keys.incident_children(incident_id), keys.incident_updates(incident_id),
             keys.INCIDENT_FANOUTS_PENDING]  # fmt: skip
        if event_id:
            k.append(keys.incident_event(incident_id, event_id))
        seq, total = self._update(keys=k, args=[status.value, message, at.isoformat(), incident_id])
        return int(seq), int(total)

    def updates(self, incident_id: str) -> list[Update]:
        return [Update(**json.loads(u)) for u in self.r.lrange(keys.incident_updates(incident_id), 0, -1)]

    def update(self, incident_id: str, seq: int) -> Update | None:
        return next((u for u in self.updates(incident_id) if u.seq == seq), None)

    def children(self, incident_id: str, start: int, stop: int) -> list[str]:
        """Linked conversations at positions [start, stop) in link order, leaving out those unlinked since."""
        if stop <= start:
            return []
        listed = [text(c) for c in self.r.lrange(keys.incident_children(incident_id), start, stop - 1)]
        if not listed:
            return []
        linked = self.r.smismember(keys.incident_child_set(incident_id), listed)
        return [c for c, still in zip(listed, linked, strict=True) if still]

    def fanout_progress(self, incident_id: str, seq: int) -> tuple[int, int]:
        raw = self.r.hmget(keys.incident_fanout(incident_id, seq), ["done", "total"])
        return int(raw[0] or 0), int(raw[1] or 0)

    def fanout_advanced(self, incident_id: str, seq: int, done: int, total: int) -> None:
        with self.r.pipeline() as pipe:
            pipe.hset(keys.incident_fanout(incident_id, seq), "done", done)
            if done >= total:
                pipe.srem(keys.INCIDENT_FANOUTS_PENDING, f"{incident_id}:{seq}")
            pipe.execute()

    def pending_fanouts(self) -> list[tuple[str, int]]:
        out = []
        for member in self.r.smembers(keys.INCIDENT_FANOUTS_PENDING):
            incident_id, seq = text(member).rsplit(":", 1)
            out.append((incident_id, int(seq)))
        return sorted(out, key=lambda p: (int(p[0]), p[1]))

    def add_candidates(self, incident_id: str, conversations: list[str]) -> None:
        if conversations:
            self.r.rpush(keys.incident_candidates(incident_id), *conversations)

    def candidates(self, incident_id: str) -> list[str]:
        return list(dict.fromkeys(text(c) for c in self.r.lrange(keys.incident_candidates(incident_id), 0, -1)))
