"""Messages on their way into Redis: the thread facts a resolution must see before Redis shows them.

The resolver (conversations.py) reads Redis, but a message submitted for commit before the one being
resolved may not be there yet: an earlier message of the same group commit, or one whose batch is still
in flight. Without this, a reply fetched in the same batch as the message it answers opened a second
ticket, and a Slack thread reply was dropped as a stranger's thread (issue 13).

Each submitted message leaves here what its commit will write that threading reads: the Message-ID it
brings, the provider thread it starts, the latest conversation of its sender on its account, and whom it
adds to its conversation (a message that leaves none of these, like a web form's, is not kept). A
message's facts stay until its commit has answered and no resolution that
began reading before that answer is still running (each resolution says when it starts and ends), so
whatever a resolution could have missed in Redis it finds here. A message that was not written (a
duplicate, or spooled: it is threaded again when the spool drains) leaves at once.

Reply tokens and ticket tags are not kept: a family learns them only from our reply to a committed request.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from gateway.intake.sender_lookups import Latest
from gateway.models import Commitment


@dataclass(eq=False, slots=True)
class Entry:
    conversation: str
    claims: tuple[str, ...]  # keys whose first writer names the conversation (Message-ID, provider thread)
    continuity: str  # the sender's continuity key, or ""
    at: datetime | None  # when the message came, for a continuity key
    people: frozenset[str]  # normalized addresses this message makes participants of its conversation
    answered_at: int | None = None  # the epoch its commit answered in
    live: bool = True


@dataclass
class Uncommitted:
    _entries: deque[Entry] = field(default_factory=deque)
    _claims: dict[str, list[Entry]] = field(default_factory=dict)
    _latest: dict[str, list[Entry]] = field(default_factory=dict)
    _people: dict[str, list[Entry]] = field(default_factory=dict)
    _epoch: int = 0  # commits answered so far
    _readers: dict[int, int] = field(default_factory=dict)  # running resolutions, by the epoch they began in

    def __len__(self) -> int:
        return len(self._entries)

    def begin(self) -> int:
        """A resolution starts reading Redis. Pass what this returns to `end` when it has decided."""
        self._readers[self._epoch] = self._readers.get(self._epoch, 0) + 1
        return self._epoch

    def end(self, began: int) -> None:
        left = self._readers[began] - 1
        if left:
            self._readers[began] = left
        else:
            del self._readers[began]
        if self._entries:
            self._prune()

    def add(self, c: Commitment, facts: Facts) -> Entry:
        """`c` was submitted for commit: later resolutions see it from now on."""
        at = c.message.received_at if facts.continuity else None
        entry = Entry(c.conversation, facts.claims, facts.continuity, at, facts.people)
        self._entries.append(entry)
        for key in entry.claims:
            self._claims.setdefault(key, []).append(entry)
        if entry.continuity:
            self._latest.setdefault(entry.continuity, []).append(entry)
        if entry.people:
            self._people.setdefault(entry.conversation, []).append(entry)
        return entry

    def answered(self, entries: list[Entry], written: list[bool]) -> None:
        """One commit answered: what it wrote is in Redis for every resolution that begins from now on."""
        self._epoch += 1
        for entry, kept in zip(entries, written, strict=True):
            entry.answered_at = self._epoch
            if not kept:
                self._forget(entry)
        if self._entries:
            self._prune()

    def conversation_at(self, key: str) -> str | None:
        """The conversation the first message still on its way names at `key` (a Message-ID or provider thread)."""
        found = self._claims.get(key)
        return found[0].conversation if found else None

    def latest_at(self, continuity: str) -> Latest | None:
        """The sender's latest conversation, if a message still on its way continues or opens one."""
        found = self._latest.get(continuity)
        if not found:
            return None
        last = found[-1]
        # Its status is not known here, but it was open (or new) when that message joined it.
        return Latest(last.conversation, "", last.at.isoformat() if last.at else "")

    def is_participant(self, conversation: str, who: str) -> bool:
        return any(who in e.people for e in self._people.get(conversation, ()))

    def _prune(self) -> None:
        oldest = min(self._readers) if self._readers else self._epoch
        while self._entries:
            first = self._entries[0]
            if first.answered_at is None or first.answered_at > oldest:
                break
            self._entries.popleft()
            self._forget(first)

    def _forget(self, entry: Entry) -> None:
        if not entry.live:
            return
        entry.live = False
        for key in entry.claims:
            _remove(self._claims, key, entry)
        if entry.continuity:
            _remove(self._latest, entry.continuity, entry)
        if entry.people:
            _remove(self._people, entry.conversation, entry)


class Facts(NamedTuple):  # a tuple: one is made per message on the request path
    """What a message's commit writes that threading reads (commit.py writes the same keys)."""

    claims: tuple[str, ...] = ()
    continuity: str = ""
    people: frozenset[str] = frozenset()


def _remove(index: dict[str, list[Entry]], key: str, entry: Entry) -> None:
    found = index.get(key)
    if found is None:
        return
    found.remove(entry)
    if not found:
        del index[key]
