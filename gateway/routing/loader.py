"""Loading config/rules.yaml: every problem names the file, the line, the rule and the field.

The file has five sections: `calendars`, `sla_policies`, `groups`, `defaults` and the ordered `rules`.
A rule is `{id, description, when: {conditions}, then: {actions}, continue}`; see config/rules.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Set
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import regex

from gateway.calendars.calendar import Calendar, WeeklyHours, parse_hours, spans_by_day
from gateway.calendars.ics import IcsError, read_ics
from gateway.errors import ConfigError
from gateway.models import KNOWN_CHANNELS, Priority, Role
from gateway.routing.conditions import (
    Condition,
    DuringClosure,
    HasAttachments,
    Hours,
    Keywords,
    OneOf,
    Pattern,
    SenderDomain,
)
from gateway.routing.model import LOW_RATING_ACTIONS, Actions, Balance, Group, Rule, RuleSet, SlaPolicy, Target
from gateway.routing.text import KeywordMatcher, UnsafePattern, compile_pattern, fold
from gateway.routing.yamlpos import Path as YPath
from gateway.routing.yamlpos import YamlError, load_with_lines

SECTIONS = ("calendars", "sla_policies", "groups", "defaults", "rules")
RULE_KEYS = ("id", "description", "when", "then", "continue")
LIST_CONDITIONS = ("channel", "account", "sender", "role", "school", "language", "category")
KEYWORD_CONDITIONS = {"keywords": "any", "subject_keywords": "subject", "text_keywords": "text"}
REGEX_CONDITIONS = {"regex": "any", "subject_regex": "subject", "text_regex": "text", "sender_regex": "sender"}
OTHER_CONDITIONS = ("sender_domain", "has_attachments", "within_hours", "outside_hours", "during_closure")
CONDITIONS = (*LIST_CONDITIONS, *KEYWORD_CONDITIONS, *REGEX_CONDITIONS, *OTHER_CONDITIONS)
INCIDENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ACTIONS = ("queue", "backend", "priority", "raise_priority", "category", "tags", "assign", "sla", "reply", "drop",
           "incident", "low_rating")  # fmt: skip
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
DURATION = re.compile(r"^(?:(\d+)h)?\s*(?:(\d+)m)?$")
PRIORITIES = tuple(p.value for p in Priority)
AUTO_REPLIES = ("received", "after_hours")


class RulesError(ConfigError):
    """The rules file is not valid; `problems` lists each with file, line, rule and field."""


@dataclass
class _Reader:
    file: Path
    lines: dict[YPath, int]
    problems: list[str] = field(default_factory=list)

    def line(self, path: YPath) -> int:
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)

    def fail(self, path: YPath, message: str, rule: str | None = None) -> None:
        where = ".".join(str(p) for p in path)
        if rule is not None:
            # rules.<n>.when.x -> the field inside the rule, which is what the operator edits
            where = ".".join(str(p) for p in path[2:]) or "(rule)"
            self.problems.append(f"{self.file}:{self.line(path)}: rule {rule!r}, field {where}: {message}")
        else:
            self.problems.append(f"{self.file}:{self.line(path)}: {where or '(top level)'}: {message}")

    def mapping(
        self, value: Any, path: YPath, known: tuple[str, ...] | None, rule: str | None = None
    ) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, "expected a mapping of keys to values", rule)
            return {}
        if known is not None:
            for key in value:
                if key not in known:
                    self.fail((*path, key), f"unknown field (expected one of: {', '.join(known)})", rule)
        return {str(k): v for k, v in value.items() if known is None or k in known}

    def words(self, value: Any, path: YPath, rule: str | None = None) -> list[str]:
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(v, str | int) and str(v).strip() for v in items):
            self.fail(path, "expected a word or a list of words", rule)
            return []
        return [str(v).strip() for v in items]


def minutes(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    m = DURATION.match(str(value).strip()) if isinstance(value, str) and value.strip() else None
    if not m or not (m.group(1) or m.group(2)):
        return None
    return int(m.group(1) or 0) * 60 + int(m.group(2) or 0)


def load_rules(
    file: Path, *, zone: ZoneInfo, backends: Set[str], templates: Path, channels: Set[str] = frozenset(KNOWN_CHANNELS)
) -> RuleSet:
    """Read and validate a rules file. Raises RulesError listing every problem found."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError([f"{file}: cannot read the rules file ({exc.strerror})"]) from None
    try:
        data, lines = load_with_lines(text)
    except YamlError as exc:
        raise RulesError([f"{file}:{exc.line}: not valid YAML ({exc})"]) from None
    r = _Reader(file, lines)
    top = r.mapping(data, (), SECTIONS)
    calendars = _calendars(r, top.get("calendars"), zone)
    policies = _policies(r, top.get("sla_policies"), calendars)
    groups = _groups(r, top.get("groups"))
    defaults = r.mapping(top.get("defaults"), ("defaults",), ("sla",))
    default_sla = defaults.get("sla")
    if default_sla is not None and default_sla not in policies:
        r.fail(("defaults", "sla"), f"unknown SLA policy {default_sla!r} (known: {', '.join(policies) or 'none'})")
    known = _Known(calendars, policies, groups, backends, templates, zone, channels)
    rules = _rules(r, top.get("rules"), known)
    if r.problems:
        raise RulesError(r.problems)
    return RuleSet(str(file), zone, tuple(rules), calendars, policies, groups, default_sla)


def _calendars(r: _Reader, raw: Any, district_zone: ZoneInfo) -> dict[str, Calendar]:
    out = {}
    for name, spec in r.mapping(raw, ("calendars",), None).items():
        path: YPath = ("calendars", name)
        c = r.mapping(spec, path, ("timezone", "hours", "departments", "holidays", "ics"))
        zone = district_zone
        if "timezone" in c:
            try:
                zone = ZoneInfo(str(c["timezone"]))
            except (ZoneInfoNotFoundError, ValueError):
                r.fail((*path, "timezone"), "expected an IANA time zone such as America/Chicago")
        hours = _hours(r, c.get("hours"), (*path, "hours"))
        departments = {
            str(dept): _hours(r, h, (*path, "departments", dept))
            for dept, h in r.mapping(c.get("departments"), (*path, "departments"), None).items()
        }
        holidays = _holidays(r, c.get("holidays"), (*path, "holidays"))
        spans: list[tuple[datetime, datetime]] = []
        for i, entry in enumerate(c.get("ics") or []):
            at: YPath = (*path, "ics", i)
            ics_file, timed_closed = _ics_entry(r, entry, at)
            if ics_file is None:
                continue
            try:
                events = read_ics(ics_file)
            except (OSError, IcsError) as exc:
                r.fail(at, str(exc) if isinstance(exc, IcsError) else f"cannot read {ics_file}")
                continue
            for event in events.days:
                holidays.update(dict.fromkeys(event.days(), event.summary or "holiday"))
            if timed_closed:
                spans += [(e.start, e.end) for e in events.timed]
        out[str(name)] = Calendar(str(name), zone, hours, departments, holidays, spans_by_day(spans, zone))
    return out


def _ics_entry(r: _Reader, entry: Any, at: YPath) -> tuple[Path | None, bool]:
    """An `ics:` entry: a path (all-day events close whole days), or {file, timed_events: skip | closed}."""
    if isinstance(entry, str):
        return r.file.parent / entry, False
    spec = r.mapping(entry, at, ("file", "timed_events"))
    if not isinstance(spec.get("file"), str):
        r.fail(at, "expected a path, or a mapping with `file` (a path) and optional `timed_events`")
        return None, False
    timed = spec.get("timed_events", "skip")
    if timed not in ("skip", "closed"):
        r.fail((*at, "timed_events"), f"expected skip or closed, got {timed!r}")
    return r.file.parent / spec["file"], timed == "closed"


def _hours(r: _Reader, raw: Any, path: YPath) -> WeeklyHours:
    try:
        return parse_hours(r.mapping(raw, path, None))
    except ValueError as exc:
        r.fail(path, str(exc))
        return parse_hours({})


def _holidays(r: _Reader, raw: Any, path: YPath) -> dict[date, str]:
    out: dict[date, str] = {}
    for i, item in enumerate(raw or []):
        day, reason = (item.get("date"), item.get("reason", "holiday")) if isinstance(item, dict) else (item, "holiday")
        if not isinstance(day, date):
            r.fail((*path, i), "expected a date like 2026-12-25 (or {date: 2026-12-25, reason: ...})")
            continue
        out[day] = str(reason)
    return out


def _policies(r: _Reader, raw: Any, calendars: dict[str, Calendar]) -> dict[str, SlaPolicy]:
    out = {}
    for name, spec in r.mapping(raw, ("sla_policies",), None).items():
        path: YPath = ("sla_policies", name)
        p = r.mapping(spec, path, ("calendar", *PRIORITIES))
        calendar = p.get("calendar")
        if calendar not in calendars:
            r.fail((*path, "calendar"), f"unknown calendar {calendar!r} (known: {', '.join(calendars) or 'none'})")
        targets = {}
        for prio in PRIORITIES:
            if prio not in p:
                continue
            t = r.mapping(p[prio], (*path, prio), ("first_response", "resolution"))
            got = {k: minutes(t[k]) if k in t else None for k in ("first_response", "resolution")}
            for k in t:
                if got[k] is None:
                    r.fail((*path, prio, k), "expected a duration of business time like 30m, 4h or 1h30m")
            targets[Priority(prio)] = Target(got["first_response"], got["resolution"])
        out[str(name)] = SlaPolicy(str(name), str(calendar), targets)
    return out


def _groups(r: _Reader, raw: Any) -> dict[str, Group]:
    out = {}
    for name, spec in r.mapping(raw, ("groups",), None).items():
        path: YPath = ("groups", name)
        g = r.mapping(spec, path, ("members", "balance"))
        members = r.words(g.get("members"), (*path, "members"))
        balance = g.get("balance", "round_robin")
        if balance not in get_args(Balance):
            r.fail((*path, "balance"), "expected round_robin or fewest_open")
            balance = "round_robin"
        out[str(name)] = Group(str(name), tuple(members), balance)
    return out


@dataclass(frozen=True)
class _Known:
    calendars: dict[str, Calendar]
    policies: dict[str, SlaPolicy]
    groups: dict[str, Group]
    backends: Set[str]
    templates: Path
    zone: ZoneInfo
    channels: Set[str]


def _rules(r: _Reader, raw: Any, known: _Known) -> list[Rule]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        r.fail(("rules",), "expected a list of rules")
        return []
    rules: list[Rule] = []
    ids: dict[str, int] = {}
    broken: set[str] = set()
    for i, spec in enumerate(raw):
        path: YPath = ("rules", i)
        rule_id = spec.get("id") if isinstance(spec, dict) else None
        if not isinstance(rule_id, str) or not NAME.match(rule_id):
            r.fail((*path, "id"), "every rule needs an id: lower-case letters, digits, - _ .")
            rule_id = f"#{i + 1}"
        elif rule_id in ids:
            r.fail((*path, "id"), f"duplicate rule id (also at line {ids[rule_id]})", rule_id)
        ids.setdefault(rule_id, r.line(path))
        rs = r.mapping(spec, path, RULE_KEYS, rule_id)
        before = len(r.problems)
        conditions = _conditions(r, rs.get("when"), (*path, "when"), rule_id, known)
        if len(r.problems) > before or ("when" not in rs and len(rs) < len(spec)):
            broken.add(rule_id)  # its conditions are unknown, so it is no catch-all: say nothing about what follows
        actions = _actions(r, rs.get("then"), (*path, "then"), rule_id, known)
        proceed = rs.get("continue", False)
        if not isinstance(proceed, bool | str):
            r.fail((*path, "continue"), "expected true, false or the id of a later rule", rule_id)
            proceed = False
        rules.append(Rule(rule_id, r.line(path), tuple(conditions), actions, proceed, str(rs.get("description", ""))))
    _check_flow(r, rules, broken)
    return rules


def _check_flow(r: _Reader, rules: list[Rule], broken: set[str]) -> None:
    position = {rule.id: i for i, rule in enumerate(rules)}
    stopper: Rule | None = None
    for i, rule in enumerate(rules):
        path: YPath = ("rules", i)
        if stopper is not None:
            r.fail(path, f"unreachable: rule {stopper.id!r} above matches every message and stops", rule.id)
        if isinstance(rule.proceed, str):
            target = position.get(rule.proceed)
            if target is None:
                r.fail((*path, "continue"), f"no rule with id {rule.proceed!r}", rule.id)
            elif target <= i:
                r.fail(
                    (*path, "continue"),
                    f"circular: continuing at {rule.proceed!r} (at or above this rule) would come back here",
                    rule.id,
                )
        if not rule.conditions and rule.proceed is False and stopper is None and rule.id not in broken:
            stopper = rule


def _conditions(r: _Reader, raw: Any, path: YPath, rule: str, known: _Known) -> list[Condition]:
    out: list[Condition] = []
    for key, value in r.mapping(raw, path, CONDITIONS, rule).items():
        at: YPath = (*path, key)
        built = _condition(r, key, value, at, rule, known)
        if built is not None:
            out.append(built)
    return out


def _condition(r: _Reader, key: str, value: Any, at: YPath, rule: str, known: _Known) -> Condition | None:
    if key in LIST_CONDITIONS:
        words = r.words(value, at, rule)
        allowed = {"channel": sorted(known.channels), "role": get_args(Role)}.get(key)
        for w in words:
            if allowed and w not in allowed:
                r.fail(at, f"unknown {key} {w!r} (expected one of: {', '.join(allowed)})", rule)
        return OneOf(key, frozenset(fold(w).split("-")[0] if key == "language" else fold(w) for w in words))
    if key == "sender_domain":
        return SenderDomain(key, frozenset(fold(w).lstrip("@") for w in r.words(value, at, rule)))
    if key in KEYWORD_CONDITIONS:
        words = r.words(value, at, rule)
        return Keywords(key, KEYWORD_CONDITIONS[key], KeywordMatcher(words)) if words else None
    if key in REGEX_CONDITIONS:
        if not isinstance(value, str) or not value:
            r.fail(at, "expected one regular expression (write alternatives with |)", rule)
            return None
        try:
            return Pattern(key, REGEX_CONDITIONS[key], compile_pattern(value), rule)
        except UnsafePattern as exc:
            r.fail(at, f"unsafe regex {value!r}: {exc}", rule)
        except regex.error as exc:
            r.fail(at, f"bad regex {value!r}: {exc}", rule)
        return None
    if key in ("has_attachments", "during_closure"):
        if not isinstance(value, bool):
            r.fail(at, "expected true or false", rule)
            return None
        return HasAttachments(key, value) if key == "has_attachments" else DuringClosure(key, known.zone, value)
    return _hours_condition(r, key, value, at, rule, known)


def _hours_condition(r: _Reader, key: str, value: Any, at: YPath, rule: str, known: _Known) -> Condition | None:
    spec = value if isinstance(value, dict) else {"calendar": value}
    spec = r.mapping(spec, at, ("calendar", "department"), rule)
    name, department = spec.get("calendar"), spec.get("department")
    calendar = known.calendars.get(str(name))
    if calendar is None:
        r.fail(at, f"unknown calendar {name!r} (known: {', '.join(known.calendars) or 'none'})", rule)
        return None
    if department is not None and str(department) not in calendar.departments:
        r.fail((*at, "department"), f"calendar {name!r} has no hours for department {department!r}", rule)
    return Hours(key, calendar, None if department is None else str(department), key == "within_hours")


def _actions(r: _Reader, raw: Any, path: YPath, rule: str, known: _Known) -> Actions:
    a = r.mapping(raw, path, ACTIONS, rule)
    checks: dict[str, tuple[Callable[[Any], bool], str]] = {
        "queue": (lambda v: isinstance(v, str) and bool(NAME.match(v)), "a queue name: lower-case letters, digits, -"),
        "category": (lambda v: isinstance(v, str) and bool(NAME.match(v)), "a category id"),
        "backend": (lambda v: v in known.backends, f"a configured backend ({', '.join(sorted(known.backends))})"),
        "priority": (lambda v: v in PRIORITIES, f"one of {', '.join(PRIORITIES)}"),
        "raise_priority": (lambda v: v in PRIORITIES, f"one of {', '.join(PRIORITIES)}"),
        "sla": (lambda v: v in known.policies, f"an SLA policy ({', '.join(known.policies) or 'none defined'})"),
        "assign": (lambda v: v in known.groups, f"an assignee group ({', '.join(known.groups) or 'none defined'})"),
        "reply": (
            lambda v: v in AUTO_REPLIES and (known.templates / v).is_dir(),
            f"an automatic reply with templates: {', '.join(AUTO_REPLIES)}",
        ),
        "drop": (lambda v: isinstance(v, bool), "true or false"),
        "low_rating": (lambda v: v in LOW_RATING_ACTIONS, f"one of {', '.join(LOW_RATING_ACTIONS)}"),
        # Incidents are opened while the gateway runs, so only the id's shape is checked here; at delivery
        # a request whose incident is not open is matched against the open ones instead.
        "incident": (
            lambda v: isinstance(v, int | str) and not isinstance(v, bool) and bool(INCIDENT_ID.match(str(v))),
            "an incident id, as `intake incident list` shows it",
        ),
    }
    good: dict[str, Any] = {}
    for key, value in a.items():
        if key == "tags":
            good["tags"] = tuple(r.words(value, (*path, key), rule))
            continue
        ok, expected = checks[key]
        if ok(value):
            good[key] = value
        else:
            r.fail((*path, key), f"got {value!r}, expected {expected}", rule)
    for key in ("priority", "raise_priority"):
        if key in good:
            good[key] = Priority(good[key])
    if "incident" in good:
        good["incident"] = str(good["incident"])
    return Actions(**good)
