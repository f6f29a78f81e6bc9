"""Rule order and actions: first match wins, `continue`, later actions replace earlier ones, the default route."""

from __future__ import annotations

import time
from pathlib import Path

from gateway.models import Priority
from gateway.routing.engine import default_route, evaluate
from tests.gateway.routing.support import load, message, write_rules
from tests.support.gateway import settings_from, write_config
from workers.routing_stage import WorkerRules

ORDERED = """
rules:
  - id: urgent-words
    when: {keywords: [lockout, "no internet in testing lab"]}
    then: {raise_priority: urgent, tags: [urgent]}
    continue: true
  - id: sms-to-transport
    when: {channel: sms, keywords: [bus]}
    then: {queue: transportation, priority: high, sla: standard, assign: techs}
  - id: never-reached-for-buses
    when: {keywords: [bus]}
    then: {queue: other}
  - id: after-hours
    when: {outside_hours: district}
    then: {reply: after_hours}
"""


def test_the_first_matching_rule_wins(tmp_path: Path) -> None:
    rules = load(write_rules(tmp_path, ORDERED))
    route = evaluate(rules, message(text="The bus never came"), "builtin", set()).route
    assert route.queue == "transportation"
    assert route.rule_ids == ("sms-to-transport",)


def test_continue_goes_on_and_raise_priority_is_not_lowered_by_a_later_rule(tmp_path: Path) -> None:
    rules = load(write_rules(tmp_path, ORDERED))
    decision = evaluate(rules, message(text="Lockout! And the bus never came"), "builtin", set())
    assert [m.rule_id for m in decision.matches] == ["urgent-words", "sms-to-transport"]
    # The later rule sets high, which replaces the urgent the first raised: `priority` sets, `raise_priority` raises.
    assert decision.route.priority is Priority.HIGH
    assert decision.route.tags == ("sms", "urgent")
    assert decision.route.sla_policy == "standard"
    assert decision.route.assignee_group == "techs"


def test_urgency_words_raise_the_priority_of_the_default_route(tmp_path: Path) -> None:
    rules = load(write_rules(tmp_path, ORDERED))
    route = evaluate(rules, message(channel="email", text="There is no internet in testing lab B"), "builtin", set())
    assert route.route.priority is Priority.URGENT
    assert route.route.queue == "general"


def test_continue_can_jump_to_a_later_rule(tmp_path: Path) -> None:
    rules = load(
        write_rules(
            tmp_path,
            """
            rules:
              - {id: tag, when: {channel: sms}, then: {tags: [texted]}, continue: last}
              - {id: skipped, when: {channel: sms}, then: {queue: wrong}}
              - {id: last, then: {queue: right}}
            """,
        )
    )
    route = evaluate(rules, message(), "builtin", set()).route
    assert (route.queue, route.rule_ids) == ("right", ("tag", "last"))


def test_no_matching_rule_gives_todays_default_route(tmp_path: Path) -> None:
    rules = load(write_rules(tmp_path, ORDERED))
    m = message(channel="webform", category="devices", campus="lhs", text="My laptop is slow")
    route = evaluate(rules, m, "builtin", set()).route
    assert route == default_route(m, "builtin")
    assert (route.queue, route.tags, route.rule_ids) == ("devices", ("webform", "lhs"), ("default",))


def test_a_spam_rule_drops_the_request(tmp_path: Path) -> None:
    spam = "rules:\n  - {id: spam, when: {sender_domain: promo.example}, then: {drop: true}}\n"
    rules = load(write_rules(tmp_path, spam))
    assert evaluate(rules, message(sender="deals@promo.example"), "builtin", set()).route.drop is True
    assert evaluate(rules, message(sender="pat@school.example"), "builtin", set()).route.drop is False


def test_the_default_sla_policy_applies_when_no_rule_sets_one(tmp_path: Path) -> None:
    rules = load(write_rules(tmp_path, "defaults: {sla: standard}\nrules: []\n"))
    assert evaluate(rules, message(), "builtin", set()).route.sla_policy == "standard"


def test_the_shipped_rules_file_is_valid_and_keeps_the_default_route_for_an_ordinary_request() -> None:
    from gateway.routing.router import Router
    from gateway.settings import load_settings
    from tests.support.gateway import REPO

    router = Router(load_settings(REPO / "config" / "gateway.yaml", env={}))
    m = message(channel="webform", category="transportation", campus="lhs", text="The 7:10 bus did not come.")
    route = router.route(m)
    assert (route.queue, route.backend, route.priority, route.tags) == (
        "transportation",
        "builtin",
        Priority.NORMAL,
        ("webform", "lhs"),
    )
    assert router.route(message(text="I'm locked out of my account")).priority is Priority.URGENT


def test_the_shipped_winter_break_stops_the_response_clock() -> None:
    """Chatwoot #6467, #14009: clocks ran over winter break. The shipped .ics export's break counts as closed."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from gateway.outbox.templating import TEMPLATE_DIR
    from gateway.routing.loader import load_rules
    from gateway.routing.sla import due_times
    from tests.support.gateway import REPO

    zone = ZoneInfo("America/Chicago")
    rules = load_rules(REPO / "config" / "rules.yaml", zone=zone, backends={"builtin"}, templates=TEMPLATE_DIR)
    friday_before_break = datetime(2026, 12, 18, 15, 0, tzinfo=zone)  # 1.5 business hours left that day
    due = due_times(rules, "standard", Priority.NORMAL, "general", friday_before_break, set())
    # Winter break is 2026-12-21 to 2027-01-01; 2027-01-02 is a Saturday. 8 h: 1.5 on Friday, 6.5 on Monday.
    assert due.first_response == datetime(2027, 1, 4, 14, 0, tzinfo=zone)
    assert due.resolution == datetime(2027, 1, 8, 10, 0, tzinfo=zone)  # 40 h: 1.5 + 9 + 9 + 9 + 9 + 2.5
    # The single days of the same file count too (Memorial Day, a Monday).
    friday_before_memorial_day = datetime(2027, 5, 28, 15, 0, tzinfo=zone)
    due = due_times(rules, "standard", Priority.NORMAL, "general", friday_before_memorial_day, set())
    assert due.first_response == datetime(2027, 6, 1, 14, 0, tzinfo=zone)


def test_a_worker_sees_a_changed_rules_file_after_its_reload_interval(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, "rules:\n  - {id: a, when: {channel: sms}, then: {queue: first}}\n")
    config = write_config(
        tmp_path, "redis://127.0.0.1:1/0", routing={"rules_file": str(rules), "reload_interval_s": 0.01}
    )
    worker_rules = WorkerRules(settings_from(config))
    assert worker_rules.current().rules[0].actions.queue == "first"
    write_rules(tmp_path, "rules:\n  - {id: a, when: {channel: sms}, then: {queue: second}}\n")
    time.sleep(0.02)
    assert worker_rules.current().rules[0].actions.queue == "second"


def test_a_rule_can_name_an_incident_for_its_requests(tmp_path: Path) -> None:
    rules = load(
        write_rules(tmp_path, "rules:\n  - id: outage\n    when: {keywords: [wifi]}\n    then: {incident: 7}\n")
    )
    assert evaluate(rules, message(text="The wifi is down"), "builtin", set()).route.incident_id == "7"
    assert evaluate(rules, message(text="The bus is late"), "builtin", set()).route.incident_id is None
