# ruff: noqa: E501  (tables of cases read best one case per line)
"""A bad rules file names the file, the line, the rule and the field; an evil regex is refused or bounded."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gateway.routing.engine import evaluate
from gateway.routing.loader import RulesError
from gateway.routing.text import compile_pattern, search
from tests.gateway.routing.support import CALENDARS, load, message, write_rules

# (name, rules section written after the shared calendars, line within that section, expected text)
CASES = [
    ("unknown field in a rule", "rules:\n  - id: a\n    wen: {channel: sms}\n", 3,
     "rule 'a', field wen: unknown field"),
    ("unknown condition", "rules:\n  - id: a\n    when:\n      channnel: sms\n", 4,
     "rule 'a', field when.channnel: unknown field"),
    ("unknown action", "rules:\n  - id: a\n    then:\n      queu: it\n", 4, "rule 'a', field then.queu: unknown field"),
    ("bad incident id", "rules:\n  - id: a\n    then:\n      incident: 'wifi down'\n", 4,
     "rule 'a', field then.incident: got 'wifi down', expected an incident id"),
    ("bad regex", "rules:\n  - id: a\n    when:\n      text_regex: 'bus(('\n", 4,
     "rule 'a', field when.text_regex: bad regex"),
    ("catastrophic regex", "rules:\n  - id: a\n    when:\n      text_regex: '(a+)+$'\n", 4,
     "rule 'a', field when.text_regex: unsafe regex"),
    ("unknown calendar", "rules:\n  - id: a\n    when:\n      outside_hours: school\n", 4,
     "rule 'a', field when.outside_hours: unknown calendar 'school'"),
    ("unknown department of a calendar", "rules:\n  - id: a\n    when:\n      within_hours: {calendar: district, department: it}\n", 4,
     "calendar 'district' has no hours for department 'it'"),
    ("unknown backend", "rules:\n  - id: a\n    then: {backend: zendesk}\n", 3,
     "rule 'a', field then.backend: got 'zendesk', expected a configured backend (builtin)"),
    ("unknown SLA policy", "rules:\n  - id: a\n    then: {sla: gold}\n", 3, "field then.sla: got 'gold'"),
    ("unknown group", "rules:\n  - id: a\n    then: {assign: nobody}\n", 3, "field then.assign: got 'nobody'"),
    ("unknown reply template", "rules:\n  - id: a\n    then: {reply: party}\n", 3, "field then.reply: got 'party'"),
    ("bad priority", "rules:\n  - id: a\n    then: {priority: asap}\n", 3, "field then.priority: got 'asap'"),
    ("unknown channel", "rules:\n  - id: a\n    when: {channel: fax}\n", 3, "unknown channel 'fax'"),
    ("circular continue", "rules:\n  - id: a\n    when: {channel: sms}\n  - id: b\n    when: {channel: sms}\n    continue: a\n",
     6, "rule 'b', field continue: circular"),
    ("continue to itself", "rules:\n  - id: a\n    when: {channel: sms}\n    continue: a\n", 4,
     "rule 'a', field continue: circular"),
    ("continue to nowhere", "rules:\n  - id: a\n    when: {channel: sms}\n    continue: zzz\n", 4,
     "no rule with id 'zzz'"),
    ("unreachable after a catch-all", "rules:\n  - id: all\n    then: {queue: x}\n  - id: b\n    when: {channel: sms}\n",
     4, "rule 'b', field (rule): unreachable: rule 'all' above matches every message"),
    ("duplicate id", "rules:\n  - id: a\n    when: {channel: sms}\n  - id: a\n    when: {channel: email}\n", 4,
     "duplicate rule id (also at line 15)"),
    ("missing id", "rules:\n  - when: {channel: sms}\n", 2, "every rule needs an id"),
    ("unknown section", "rules: []\nsla_policies2: {}\n", 2, "sla_policies2: unknown field"),
    ("unknown default SLA", "defaults: {sla: gold}\nrules: []\n", 1, "defaults.sla: unknown SLA policy 'gold'"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "body", "line", "expected"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_rules_file_names_file_line_rule_and_field(
    tmp_path: Path, name: str, body: str, line: int, expected: str
) -> None:
    path = write_rules(tmp_path, body)
    with pytest.raises(RulesError) as err:
        load(path)
    line += CALENDARS.count("\n")
    assert any(p.startswith(f"{path}:{line}: ") and expected in p for p in err.value.problems), err.value.problems


CALENDAR_CASES = [
    ("hours that end before they start", 'calendars:\n  d:\n    hours: {mon-fri: "7:30-4:30"}\n', 3, "ends before it starts"),
    ("not a time", 'calendars:\n  d:\n    hours: {sat: "08:00-25:00"}\n', 3, "calendars.d.hours: '25:00' is not a time"),
    ("bad day", 'calendars:\n  d:\n    hours: {monday: "07:30-16:30"}\n', 3, "'monday' is not a day"),
    ("bad duration", "calendars: {d: {}}\nsla_policies:\n  s:\n    calendar: d\n    normal: {first_response: soon}\n", 5,
     "sla_policies.s.normal.first_response: expected a duration"),
    ("policy on an unknown calendar", "sla_policies:\n  s:\n    calendar: nope\n", 3, "unknown calendar 'nope'"),
    ("missing ics file", "calendars:\n  d:\n    ics: [missing.ics]\n", 3, "cannot read"),
    ("bad time zone", "calendars:\n  d:\n    timezone: Mars/Olympus\n", 3, "expected an IANA time zone"),
    ("not YAML", "rules: [\n", 2, "not valid YAML"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "body", "line", "expected"), CALENDAR_CASES, ids=[c[0] for c in CALENDAR_CASES])
def test_a_bad_calendar_or_policy_names_file_line_and_key(
    tmp_path: Path, name: str, body: str, line: int, expected: str
) -> None:
    path = write_rules(tmp_path, body, with_calendars=False)
    with pytest.raises(RulesError) as err:
        load(path)
    assert any(p.startswith(f"{path}:{line}:") and expected in p for p in err.value.problems), err.value.problems


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    body = "rules:\n  - id: a\n    when: {channnel: sms}\n  - id: b\n    then: {backend: nope}\n"
    with pytest.raises(RulesError) as err:
        load(write_rules(tmp_path, body))
    assert len(err.value.problems) == 2


def test_the_classic_evil_regex_is_refused_at_load() -> None:
    for evil in ("(a+)+$", "(\\w+\\s?)*$", "^(([a-z])+.)+[A-Z]([a-z])+$", "(?:x*y?)+z"):
        with pytest.raises(ValueError, match="exponential"):
            compile_pattern(evil)


def test_a_backtracking_regex_that_passes_the_load_check_is_bounded_at_run_time(tmp_path: Path) -> None:
    # Overlapping alternatives backtrack exponentially without any nested quantifier, so only the timeout stops it.
    rules = load(
        write_rules(tmp_path, "rules:\n  - id: slow\n    when: {text_regex: '^(a|aa)+$'}\n    then: {queue: x}\n")
    )
    started = time.monotonic()
    decision = evaluate(rules, message(text="a" * 60 + "!"), "builtin", set())
    assert time.monotonic() - started < 2.0  # unbounded, this input takes longer than the age of the universe
    assert decision.route.rule_ids == ("default",)


def test_a_timed_out_search_is_no_match_and_says_so_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    pattern = compile_pattern("^(a|aa)+$")
    assert search(pattern, "a" * 60 + "!", "slow-rule") is None
    assert "timed out" in caplog.text
    assert "aaaa" not in caplog.text  # the text itself is never logged
