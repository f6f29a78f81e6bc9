"""Calendars: weekly hours per department, holidays from .ics exports, closures, and business-time arithmetic."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.calendars.calendar import Calendar, parse_hours
from gateway.calendars.ics import IcsError, read_day_events, read_ics
from gateway.calendars.local_time import when
from gateway.outbox.templating import TEMPLATE_DIR
from gateway.routing.loader import load_rules
from tests.support.gateway import REPO

ZONE = ZoneInfo("America/Chicago")
PAYLOADS = REPO / "tests" / "payloads" / "calendars"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE)


def district(holidays: dict[date, str] | None = None) -> Calendar:
    return Calendar(
        "district",
        ZONE,
        parse_hours({"mon-fri": "07:30-16:30"}),
        {"transportation": parse_hours({"mon-fri": "06:00-17:30", "sat": "07:00-11:00"})},
        holidays or {},
    )


def test_a_department_opens_at_its_own_hour() -> None:
    cal = district()
    assert cal.is_open(at("2026-12-01 06:15"), "transportation", set())
    assert not cal.is_open(at("2026-12-01 06:15"), "it", set())  # no hours of its own: the calendar's
    assert cal.is_open(at("2026-12-01 07:30"), None, set())
    assert not cal.is_open(at("2026-12-01 16:30"), None, set())  # closing time is closed


def test_split_shifts_have_a_gap() -> None:
    cal = Calendar("x", ZONE, parse_hours({"mon-fri": "07:00-11:00, 12:00-16:00"}))
    assert cal.is_open(at("2026-12-01 10:59"), None, set())
    assert not cal.is_open(at("2026-12-01 11:30"), None, set())


def test_business_minutes_stop_overnight_and_over_the_weekend() -> None:
    cal = district()
    # Friday 15:30 + 2 business hours: one hour on Friday, one on Monday from 7:30.
    assert cal.add_business_minutes(at("2026-12-04 15:30"), 120, None, set()) == at("2026-12-07 08:30")
    # A request on Saturday night starts its clock at Monday's opening.
    assert cal.add_business_minutes(at("2026-12-05 22:00"), 30, None, set()) == at("2026-12-07 08:00")


def test_holidays_and_closures_pause_the_clock() -> None:
    cal = district({date(2026, 12, 7): "Teacher workday"})
    closures = {date(2026, 12, 8)}
    assert cal.add_business_minutes(at("2026-12-04 16:00"), 60, None, closures) == at("2026-12-09 08:00")
    assert cal.next_open(at("2026-12-04 18:00"), None, closures) == at("2026-12-09 07:30")
    assert not cal.is_open(at("2026-12-08 10:00"), None, closures)


def test_business_time_is_right_across_a_daylight_saving_change() -> None:
    cal = district()
    # US clocks go back on 2026-11-01 (a Sunday): Monday 08:00 local is 14:00 UTC, where Friday's was 13:00.
    due = cal.add_business_minutes(at("2026-10-30 16:00"), 60, None, set())
    assert due is not None and (due.astimezone(UTC).hour, due.astimezone(ZONE).hour) == (14, 8)


def test_a_calendar_closed_forever_gives_no_due_time_instead_of_looping() -> None:
    cal = Calendar("never", ZONE, parse_hours({}))
    assert cal.add_business_minutes(at("2026-12-01 10:00"), 30, None, set()) is None
    assert cal.next_open(at("2026-12-01 10:00"), None, set()) is None


def test_a_google_export_gives_its_all_day_events_and_skips_timed_ones() -> None:
    events = read_day_events(PAYLOADS / "google_export.ics")
    assert [(e.first, e.last, e.summary) for e in events] == [
        (date(2026, 11, 26), date(2026, 11, 27), "Thanksgiving Break; no school"),
        (date(2026, 12, 21), date(2027, 1, 1), "Winter Break"),
    ]
    assert len(events[1].days()) == 12  # DTEND is exclusive


def test_an_outlook_export_is_read_despite_its_time_zone_rules() -> None:
    events = read_day_events(PAYLOADS / "outlook_export.ics")
    assert [(e.first.isoformat(), e.summary) for e in events] == [
        ("2027-01-18", "Martin Luther King Jr. Day"),
        ("2027-03-15", "Spring Break"),
    ]


def test_a_repeating_all_day_event_closes_every_one_of_its_days() -> None:
    fridays = [e.first for e in read_day_events(PAYLOADS / "repeating.ics", today=date(2027, 1, 1))]
    assert fridays[:3] == [date(2027, 1, 8), date(2027, 1, 15), date(2027, 1, 22)]
    assert all(d.weekday() == 4 for d in fridays)


def test_a_weekly_early_release_with_an_exception_and_a_break_from_a_google_export() -> None:
    events = read_ics(PAYLOADS / "early_release.ics", today=date(2026, 12, 1))
    wednesdays = [e.start.astimezone(ZONE) for e in events.timed]
    assert wednesdays[0] == at("2026-09-02 13:00") and wednesdays[-1] == at("2027-06-02 13:00")
    assert at("2026-11-25 13:00") not in wednesdays  # EXDATE: the Wednesday before Thanksgiving is a full day
    assert at("2026-11-18 13:00") in wednesdays and at("2026-12-02 13:00") in wednesdays
    assert all(e.end - e.start == timedelta(hours=4) for e in events.timed)  # across the DST change too
    assert [(e.first, e.last) for e in events.days] == [
        (date(2027, 1, 4), date(2027, 1, 4)),  # the first Monday of three months: RRULE;COUNT=3
        (date(2027, 2, 1), date(2027, 2, 1)),
        (date(2027, 3, 1), date(2027, 3, 1)),
        (date(2027, 3, 15), date(2027, 3, 19)),  # Spring Break, five days
    ]


def test_an_early_release_stops_the_clock_from_one_oclock_except_on_its_exception(tmp_path: Path) -> None:
    (tmp_path / "early_release.ics").write_text((PAYLOADS / "early_release.ics").read_text())
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "calendars:\n  district:\n    hours: {mon-fri: '07:30-16:30'}\n"
        "    ics:\n      - {file: early_release.ics, timed_events: closed}\n"
    )
    cal = load_rules(rules, zone=ZONE, backends={"builtin"}, templates=TEMPLATE_DIR).calendars["district"]
    # Wednesday 2 December from noon: 60 open minutes before the early release, the other 30 on Thursday.
    assert cal.add_business_minutes(at("2026-12-02 12:00"), 90, None, set()) == at("2026-12-03 08:00")
    assert not cal.is_open(at("2026-12-02 14:00"), None, set())
    # Wednesday 25 November is the exception: open all afternoon.
    assert cal.add_business_minutes(at("2026-11-25 12:00"), 90, None, set()) == at("2026-11-25 13:30")
    assert cal.is_open(at("2026-11-25 14:00"), None, set())
    assert cal.holidays[date(2027, 3, 17)] == "Spring Break"


def test_timed_events_of_a_plain_ics_entry_close_nothing(tmp_path: Path) -> None:
    (tmp_path / "google.ics").write_text((PAYLOADS / "google_export.ics").read_text())
    rules = tmp_path / "rules.yaml"
    rules.write_text("calendars:\n  district:\n    hours: {mon-fri: '07:30-16:30'}\n    ics: [google.ics]\n")
    cal = load_rules(rules, zone=ZONE, backends={"builtin"}, templates=TEMPLATE_DIR).calendars["district"]
    assert cal.is_open(at("2026-12-08 17:30").replace(hour=16, minute=0), None, set())  # the board meeting day
    assert cal.closed_spans == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("BEGIN:VEVENT\nSUMMARY:x\nEND:VEVENT\n", "VEVENT without DTSTART"),
        ("BEGIN:VEVENT\nDTSTART;VALUE=DATE:2026-12-01\nEND:VEVENT\n", "is not a date"),
        ("BEGIN:VEVENT\nDTSTART;VALUE=DATE:20261201\nDTEND;VALUE=DATE:20261130\nEND:VEVENT\n", "must be a date after"),
        ("BEGIN:VEVENT\nDTSTART;VALUE=DATE:20261201\n", "not closed"),
        ("BEGIN:VEVENT\nno colon here\nEND:VEVENT\n", "expected NAME:VALUE"),
    ],
)
def test_a_malformed_ics_names_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad.ics"
    bad.write_text(content)
    with pytest.raises(IcsError, match=message):
        read_day_events(bad)


def test_a_due_time_reads_as_a_weekday_in_the_requesters_language() -> None:
    now = at("2026-12-04 15:30")
    assert when(at("2026-12-08 10:00"), ZONE, "en", now) == "Tuesday 10:00"
    assert when(at("2026-12-08 10:00"), ZONE, "es", now) == "martes 10:00"
    assert when(at("2027-01-04 07:30"), ZONE, "en", now) == "Monday 2027-01-04 07:30"  # far off: with the date
