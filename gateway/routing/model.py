"""A loaded, validated rule set: rules with compiled conditions, calendars, SLA policies, assignee groups."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

from gateway.calendars.calendar import Calendar
from gateway.models import Priority
from gateway.routing.conditions import Condition, Facts

PRIORITY_ORDER = (Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT)
Balance = Literal["round_robin", "fewest_open"]
LOW_RATING_ACTIONS = ("reopen", "notify")  # what a survey rating of 1 or 2 does (workers/surveys.py)


@dataclass(frozen=True)
class Actions:
    queue: str | None = None
    backend: str | None = None
    priority: Priority | None = None
    raise_priority: Priority | None = None
    category: str | None = None
    tags: tuple[str, ...] = ()
    assign: str | None = None
    sla: str | None = None
    reply: str | None = None
    drop: bool = False
    incident: str | None = None  # an incident's id: its requests are linked to it at delivery
    low_rating: str | None = None  # reopen or notify, when the family's survey rates the request 1 or 2


@dataclass(frozen=True)
class Rule:
    id: str
    line: int
    conditions: tuple[Condition, ...]
    actions: Actions
    # False: stop at this rule when it matches; True: go on with the next rule; a rule id: go on there.
    proceed: bool | str = False
    description: str = ""

    def match(self, facts: Facts) -> list[str] | None:
        """Why every condition holds, or None as soon as one does not. No conditions: always matches."""
        reasons = []
        for condition in self.conditions:
            why = condition.check(facts)
            if why is None:
                return None
            reasons.append(why)
        return reasons or ["no conditions (matches everything)"]


@dataclass(frozen=True)
class Target:
    first_response_minutes: int | None
    resolution_minutes: int | None


@dataclass(frozen=True)
class SlaPolicy:
    name: str
    calendar: str
    targets: Mapping[Priority, Target]


@dataclass(frozen=True)
class Group:
    name: str
    members: tuple[str, ...]
    balance: Balance = "round_robin"


@dataclass(frozen=True)
class RuleSet:
    source: str
    zone: ZoneInfo
    rules: tuple[Rule, ...] = ()
    calendars: Mapping[str, Calendar] = field(default_factory=dict)
    sla_policies: Mapping[str, SlaPolicy] = field(default_factory=dict)
    groups: Mapping[str, Group] = field(default_factory=dict)
    default_sla: str | None = None

    def index(self, rule_id: str) -> int:
        return next(i for i, r in enumerate(self.rules) if r.id == rule_id)
