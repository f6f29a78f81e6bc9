"""What a desk page offers to choose from: departments, people, channels, schools, languages, categories and work
types, from the configuration and the store (read on a worker thread: each call here blocks)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.accounts.roles import StaffUser
from gateway.settings import Settings
from gateway.tickets import TicketQuery, TicketStore

DEFAULT_QUEUE = "general"  # where a request no rule placed goes (gateway/routing/engine.py)


@dataclass(frozen=True)
class Choices:
    departments: tuple[str, ...]  # what the list may be narrowed to: the person's own (every one for a supervisor)
    queues: tuple[str, ...]  # where a ticket may be sent: every department known
    people: tuple[tuple[str, str], ...]  # (username, name)
    channels: tuple[str, ...]
    schools: tuple[tuple[str, str], ...]  # (id, label)
    languages: tuple[tuple[str, str], ...]
    categories: tuple[tuple[str, str], ...]
    work_types: tuple[str, ...]


def _label(label: dict[str, str], lang: str) -> str:
    return label.get(lang) or label.get("en") or next(iter(label.values()), "")


def choices(store: TicketStore, settings: Settings, user: StaffUser, channels: tuple[str, ...], lang: str) -> Choices:
    """The options `user` may pick from. Blocking: call it on a worker thread."""
    users = store.users.all(include_disabled=False)
    form = settings.channels.webform
    open_queues = {str(k[0]) for k in store.counts(("queue",), TicketQuery(status=("open",)))}
    known = {DEFAULT_QUEUE, *open_queues, *(d for u in users for d in u.departments), *(c.id for c in form.categories),
             *settings.desk.departments}  # fmt: skip
    if user.sees_every_department:
        departments = tuple(sorted(open_queues | {d for u in users for d in u.departments}))
        people = users
    else:
        departments = tuple(user.departments)
        people = [u for u in users if u.role != "agent" or set(u.departments) & set(user.departments)]
    return Choices(
        departments=departments,
        queues=tuple(sorted(known)),
        people=tuple(sorted(((u.username, u.name or u.username) for u in people), key=lambda p: p[1].casefold())),
        channels=tuple(sorted({*channels, "webform"})),
        schools=tuple((s.id, _label(s.label, lang)) for s in form.schools),
        languages=tuple(form.languages.items()),
        categories=tuple((c.id, _label(c.label, lang)) for c in form.categories),
        work_types=tuple(settings.desk.work_types),
    )
