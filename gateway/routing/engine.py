"""Evaluating a rule set: ordered rules, first match wins unless the rule says `continue`.

Single-valued actions of a later matching rule replace earlier ones; tags accumulate; `raise_priority`
never lowers. With no rule matching, the route is today's default: the message's category as the
queue, the configured default backend, the channel and school as tags.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import date, datetime

from gateway.models import InboundMessage, Priority, Route
from gateway.routing.conditions import Facts
from gateway.routing.model import PRIORITY_ORDER, Actions, RuleSet


@dataclass(frozen=True)
class Match:
    rule_id: str
    line: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    route: Route
    matches: tuple[Match, ...]


DEFAULT_RULE_IDS = ("default",)


def default_route(message: InboundMessage, backend: str) -> Route:
    school = message.requester.campus or message.campus
    return Route(
        queue=message.category or "general",
        backend=backend,
        category=message.category,
        tags=(message.channel,) + ((school,) if school else ()),
        rule_ids=DEFAULT_RULE_IDS,
    )


@dataclass
class _Draft:
    queue: str
    backend: str
    priority: Priority
    category: str | None
    sla: str | None
    reply: str
    assign: str | None = None
    drop: bool = False
    incident: str | None = None
    low_rating: str | None = None

    def apply(self, a: Actions, tags: list[str]) -> None:
        self.queue = a.queue or self.queue
        self.backend = a.backend or self.backend
        self.priority = a.priority or self.priority
        self.category = a.category or self.category
        self.sla = a.sla or self.sla
        self.reply = a.reply or self.reply
        self.assign = a.assign or self.assign
        self.drop = self.drop or a.drop
        self.incident = a.incident or self.incident
        self.low_rating = a.low_rating or self.low_rating
        if a.raise_priority and PRIORITY_ORDER.index(a.raise_priority) > PRIORITY_ORDER.index(self.priority):
            self.priority = a.raise_priority
        tags.extend(t for t in a.tags if t not in tags)


def evaluate(
    rules: RuleSet, message: InboundMessage, default_backend: str, closures: Set[date], now: datetime | None = None
) -> Decision:
    """Route one message. Pure: no I/O; `now` defaults to when the message arrived.

    On the request path for every message, so the default route's values are taken directly rather
    than through a second Route, and only the final Route is validated.
    """
    school = message.requester.campus or message.campus
    facts = Facts(message, now or message.received_at, closures)
    category = message.category
    draft = _Draft(category or "general", default_backend, Priority.NORMAL, category, rules.default_sla, "received")
    tags: list[str] = [message.channel, school] if school else [message.channel]
    matches: list[Match] = []
    i = 0
    ordered = rules.rules
    # Validation refuses backward `continue` targets, so i only grows and this always ends.
    while i < len(ordered):
        rule = ordered[i]
        reasons = rule.match(facts)
        if reasons is None:
            i += 1
            continue
        matches.append(Match(rule.id, rule.line, tuple(reasons)))
        draft.apply(rule.actions, tags)
        if rule.proceed is False:
            break
        i = i + 1 if rule.proceed is True else rules.index(str(rule.proceed))
    route = Route(
        queue=draft.queue,
        backend=draft.backend,
        priority=draft.priority,
        category=draft.category,
        tags=tuple(tags),
        assignee_group=draft.assign,
        sla_policy=draft.sla,
        auto_reply_template=draft.reply,
        drop=draft.drop,
        incident_id=draft.incident,
        low_rating=draft.low_rating,
        rule_ids=tuple([m.rule_id for m in matches]) if matches else DEFAULT_RULE_IDS,
    )
    return Decision(route, tuple(matches))
