"""What a desk page offers to choose from: departments, people, channels, schools, languages, categories and work
types, from the configuration and the store (read on a worker thread: each call here blocks)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.accounts.roles import StaffUser
from gateway.settings import Settings
from gateway.tickets import TicketQuery, TicketStore

# Time logged at the desk is of one of these kinds unless the configuration names its own (`desk.work_types`).
WORK_TYPES = ("break/fix", "training", "curriculum support", "project", "other")


@dataclass(frozen=True)
class Choices:
    departments: tuple[str, ...]
    people: tuple[tuple[str, str], ...]  # (username, name)
    channels: tuple[str, ...]
    schools: tuple[tuple[str, str], ...]  # (id, label)
    languages: tuple[tuple[str, str], ...]
    categories: tuple[tuple[str, str], ...]
    work_types: tuple[str, ...]


def work_types(settings: Settings) -> tuple[str, ...]:
    desk = getattr(settings, "desk", None)
    configured = getattr(desk, "work_types", None) if desk is not None else None
    return tuple(str(w) for w in configured) if configured else WORK_TYPES


def _label(label: dict[str, str], lang: str) -> str:
    return label.get(lang) or label.get("en") or next(iter(label.values()), "")


def choices(store: TicketStore, settings: Settings, user: StaffUser, channels: tuple[str, ...], lang: str) -> Choices:
    """The options `user` may pick from. Blocking: call it on a worker thread."""
    users = store.users.all(include_disabled=False)
    if user.sees_every_department:
        open_queues = {str(k[0]) for k in store.counts(("queue",), TicketQuery(status=("open",)))}
        departments = tuple(sorted(open_queues | {d for u in users for d in u.departments}))
        people = users
    else:
        departments = tuple(user.departments)
        people = [u for u in users if u.role != "agent" or set(u.departments) & set(user.departments)]
    form = settings.channels.webform
    return Choices(
        departments=departments,
        people=tuple(sorted(((u.username, u.name or u.username) for u in people), key=lambda p: p[1].casefold())),
        channels=tuple(sorted({*channels, "webform"})),
        schools=tuple((s.id, _label(s.label, lang)) for s in form.schools),
        languages=tuple(form.languages.items()),
        categories=tuple((c.id, _label(c.label, lang)) for c in form.categories),
        work_types=work_types(settings),
    )
