"""The reports' numbers against a week counted by hand (America/Chicago; the shipped calendar: offices 07:30-16:30,
IT 07:30-17:00, transportation 06:00-17:30, weekdays), on SQLite and on PostgreSQL.

    ticket  channel  queue           language school  made (local)      first response     resolved
    1       sms      transportation  es       lhs     Mon 02-01 16:00   Mon 17:00 (60)     Tue 02-02 07:00 (150)
    2       webform  it              en       jes     Fri 02-05 16:00   Mon 02-08 08:00 (90) Mon 12:00 (330)
    3       email    general         en       lhs     Wed 02-03 10:00   Wed 10:45 (45)     -
    4       sms      transportation  es       lhs     Sat 02-06 09:00   Mon 02-08 06:30 (30) -
    5       sms      transportation  vi       jes     Thu 02-04 08:00   -                  -
    6       sms      transportation  es       lhs     Mon 02-08 09:00   (the next week: in no report of this week)

(business minutes in brackets). Clock time would make ticket 2's first response 3,840 minutes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.reports import compute, output, ranges
from gateway.routing.model import RuleSet
from gateway.settings import Settings
from gateway.tickets import TicketStore
from gateway.tickets import schema as t

ZONE = ZoneInfo("America/Chicago")


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE)


def backdate(store: TicketStore, tid: int, made: str, first: str | None = None, resolved: str | None = None) -> None:
    """Give a ticket the times it had (the store stamps its own clock's)."""
    values = {
        "created_at": local(made),
        "first_response_at": local(first) if first else None,
        "resolved_at": local(resolved) if resolved else None,
        "status": "resolved" if resolved else "open",
    }
    with store.engine.begin() as conn:
        conn.execute(t.tickets.update().where(t.tickets.c.id == tid).values(values))


@pytest.fixture
def week(store: TicketStore, make: Callable[..., int]) -> TicketStore:
    rows = [
        ({"channel": "sms", "queue": "transportation", "language": "es", "school": "lhs", "category": "transportation"},
         "2027-02-01 16:00", "2027-02-01 17:00", "2027-02-02 07:00"),
        ({"channel": "webform", "queue": "it", "language": "en", "school": "jes", "category": "devices"},
         "2027-02-05 16:00", "2027-02-08 08:00", "2027-02-08 12:00"),
        ({"channel": "email", "queue": "general", "language": "en", "school": "lhs"},
         "2027-02-03 10:00", "2027-02-03 10:45", None),
        ({"channel": "sms", "queue": "transportation", "language": "es", "school": "lhs", "category": "transportation"},
         "2027-02-06 09:00", "2027-02-08 06:30", None),
        ({"channel": "sms", "queue": "transportation", "language": "vi", "school": "jes", "category": "transportation"},
         "2027-02-04 08:00", None, None),
        ({"channel": "sms", "queue": "transportation", "language": "es", "school": "lhs"},
         "2027-02-08 09:00", None, None),
    ]  # fmt: skip
    for fields, made, first, resolved in rows:
        backdate(store, make(**fields), made, first, resolved)
    return store


def the_week(settings: Settings) -> ranges.Range:
    return ranges.resolve(settings, "week", date(2027, 2, 3))


def test_response_times_are_business_minutes_of_the_sla_calendar(
    week: TicketStore, settings: Settings, rules: RuleSet
) -> None:
    report = compute.run("response", week, the_week(settings), "queue", rules, set())
    assert report.columns == ["queue", *compute.STAT_COLUMNS]
    assert report.rows == [
        ["general", 1, 1, 45.0, 45.0, 0, None, None],
        ["it", 1, 1, 90.0, 90.0, 1, 330.0, 330.0],
        ["transportation", 3, 2, 45.0, 60.0, 1, 150.0, 150.0],
    ]


def test_a_closure_declared_for_a_day_stops_the_clock_that_day(
    week: TicketStore, settings: Settings, rules: RuleSet
) -> None:
    # Monday 02-08 closed (a snow day): ticket 2 waited only Friday's hour, and was resolved within it too.
    report = compute.run("response", week, the_week(settings), "queue", rules, {date(2027, 2, 8)})
    it = next(r for r in report.rows if r[0] == "it")
    assert it == ["it", 1, 1, 60.0, 60.0, 1, 60.0, 60.0]


def test_the_equity_view_compares_languages_channels_and_schools(
    week: TicketStore, settings: Settings, rules: RuleSet
) -> None:
    report = compute.run("equity", week, the_week(settings), None, rules, set())
    assert report.columns == ["dimension", "value", *compute.STAT_COLUMNS]
    assert report.rows == [
        ["language", "en", 2, 2, 67.5, 90.0, 1, 330.0, 330.0],
        ["language", "es", 2, 2, 45.0, 60.0, 1, 150.0, 150.0],
        ["language", "vi", 1, 0, None, None, 0, None, None],
        ["channel", "email", 1, 1, 45.0, 45.0, 0, None, None],
        ["channel", "sms", 3, 2, 45.0, 60.0, 1, 150.0, 150.0],
        ["channel", "webform", 1, 1, 90.0, 90.0, 1, 330.0, 330.0],
        ["school", "jes", 2, 1, 90.0, 90.0, 1, 330.0, 330.0],
        ["school", "lhs", 3, 3, 45.0, 60.0, 1, 150.0, 150.0],
    ]
    assert [c.labels for c in report.charts] == [["en", "es", "vi"], ["email", "sms", "webform"], ["jes", "lhs"]]


def test_volume_counts_each_day_of_the_week_by_channel(week: TicketStore, settings: Settings) -> None:
    report = compute.volume(week, the_week(settings), "channel")
    assert report.columns == ["period", "sms", "email", "webform", "total"]
    assert report.rows == [
        ["2027-02-01", 1, 0, 0, 1],
        ["2027-02-02", 0, 0, 0, 0],
        ["2027-02-03", 0, 1, 0, 1],
        ["2027-02-04", 1, 0, 0, 1],
        ["2027-02-05", 0, 0, 1, 1],
        ["2027-02-06", 1, 0, 0, 1],
        ["2027-02-07", 0, 0, 0, 0],
        ["total", 3, 1, 1, 5],
    ]


def test_volume_of_one_day_is_by_local_hour_and_missing_values_are_named(week: TicketStore, settings: Settings) -> None:
    report = compute.volume(week, ranges.resolve(settings, "day", date(2027, 2, 3)), "category")
    assert report.columns == ["period", "(none)", "total"]
    assert report.rows[10] == ["10:00", 1, 1]  # 10:00 in Chicago, 16:00 UTC
    assert report.rows[-1] == ["total", 1, 1]


def test_time_spent_adds_up_by_work_type_and_by_person(
    week: TicketStore, settings: Settings, make: Callable[..., int]
) -> None:
    tid = make()
    week.log_time(tid, "ana.lopez", 45, "break/fix", at=local("2027-02-02 10:00"))
    week.log_time(tid, "ana.lopez", 30, "training", at=local("2027-02-03 10:00"))
    week.log_time(tid, "ben.okafor", 15, "break/fix", at=local("2027-02-04 10:00"))
    week.log_time(tid, "ben.okafor", 60, "curriculum support", at=local("2027-02-09 10:00"))  # next week
    by_type = compute.time_spent(week, the_week(settings), "work_type")
    assert by_type.rows == [
        ["break/fix", 60, 1.0, 2, 66.7],
        ["training", 30, 0.5, 1, 33.3],
        ["total", 90, 1.5, 3, 100.0],
    ]
    by_person = compute.time_spent(week, the_week(settings), "person")
    assert [r[:2] for r in by_person.rows] == [["ana.lopez", 75], ["ben.okafor", 15], ["total", 90]]


def test_a_report_is_written_as_csv_and_as_a_table(week: TicketStore, settings: Settings, rules: RuleSet) -> None:
    report = compute.run("response", week, the_week(settings), "language", rules, set())
    assert output.to_csv(report).splitlines()[:3] == [
        "language,tickets,answered,first_response_median,first_response_p90,resolved,resolution_median,resolution_p90",
        "en,2,2,67.5,90.0,1,330.0,330.0",
        "es,2,2,45.0,60.0,1,150.0,150.0",
    ]
    table = output.to_table(report).splitlines()
    assert table[0] == "response 2027-02-01 to 2027-02-07 (by language)"
    assert table[-1].split() == ["vi", "1", "0", "-", "-", "0", "-", "-"]


def test_an_unknown_grouping_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="volume is reported by channel, queue, category"):
        compute.field_for("volume", "colour")
    assert compute.field_for("volume", "department") == "queue"
