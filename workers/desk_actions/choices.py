"""What the desk may set a ticket's fields to: the values the configuration and the rules name, and those in use.

There is no list of departments of its own: a queue exists because a rule routes to it, a calendar gives it hours,
the form offers it as a category (a request with no rule goes to its category's queue), a directory group works it,
the configuration gives it a name (`desk.departments`), or tickets are in it already. A name outside all of these is
a typo, refused with the names that would do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.models import Priority
from gateway.routing.model import RuleSet
from gateway.settings import Settings
from gateway.tickets import Refusal

DEFAULT_QUEUE = "general"  # the queue of a request no rule and no category placed (gateway/routing/engine.py)


@dataclass(frozen=True)
class Choices:
    queues: tuple[str, ...]
    categories: tuple[str, ...]
    priorities: tuple[str, ...]
    work_types: tuple[str, ...]


def _names(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(sorted({v for v in values if v}))


def desk_choices(settings: Settings, rules: RuleSet, queues_in_use: Iterable[str] = (),
                 categories_in_use: Iterable[str | None] = ()) -> Choices:  # fmt: skip
    form = [c.id for c in settings.channels.webform.categories]
    actions = [r.actions for r in rules.rules]
    worked = [q for qs in settings.signin.ldap.departments.values() for q in qs]
    departments = [d for cal in rules.calendars.values() for d in cal.departments]
    named = list(settings.desk.departments)
    return Choices(
        queues=_names(
            [DEFAULT_QUEUE, *form, *worked, *departments, *named, *(a.queue for a in actions), *queues_in_use]
        ),
        categories=_names([*form, *(a.category for a in actions), *categories_in_use]),
        priorities=tuple(p.value for p in Priority),
        work_types=tuple(settings.desk.work_types),
    )


def refuse(field: str, value: str, allowed: tuple[str, ...]) -> Refusal:
    """The error for a value the desk does not know, naming the ones it does."""
    names = ", ".join(allowed) or "(none configured)"
    return Refusal("not_allowed", f"unknown {field} {value!r}; expected one of: {names}", field=field.replace(" ", "_"),
                   value=value, allowed=names)  # fmt: skip


def check(field: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise refuse(field, value, allowed)
