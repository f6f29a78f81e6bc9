"""Business time between two instants, counted by hand against the district's hours, holidays and closures."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from gateway.calendars.business_time import BusinessClock
from gateway.calendars.calendar import Calendar, parse_hours

ZONE = ZoneInfo("America/Chicago")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE)


def district() -> Calendar:
    return Calendar(
        "district",
        ZONE,
        parse_hours({"mon-fri": "07:30-16:30"}),
        {"transportation": parse_hours({"mon-fri": "06:00-17:30"}), "it": parse_hours({"mon-fri": "07:30-17:00"})},
        {date(2027, 1, 18): "Martin Luther King Jr. Day"},
    )


def test_a_weekend_does_not_count() -> None:
    clock = BusinessClock(district(), set())
    # Friday 16:00 -> Monday 08:00 in IT (07:30-17:00): 60 minutes on Friday, 30 on Monday; 64 hours of clock time.
    assert clock.minutes(at("2027-02-05 16:00"), at("2027-02-08 08:00"), "it") == 90


def test_a_department_counts_its_own_hours_and_others_the_calendars() -> None:
    clock = BusinessClock(district(), set())
    start, end = at("2027-02-01 16:00"), at("2027-02-02 07:00")
    assert clock.minutes(start, end, "transportation") == 90 + 60  # 16:00-17:30, then 06:00-07:00
    assert clock.minutes(start, end, "general") == 30  # 16:00-16:30; Tuesday opens at 07:30


def test_a_holiday_and_a_closure_do_not_count() -> None:
    # Friday 2027-01-15 16:00 -> Tuesday 2027-01-19 08:00; Monday is MLK Day.
    assert BusinessClock(district(), set()).minutes(at("2027-01-15 16:00"), at("2027-01-19 08:00"), "it") == 90
    # The same span with Tuesday closed by `intake calendar close`: only Friday's hour.
    closed = BusinessClock(district(), {date(2027, 1, 19)})
    assert closed.minutes(at("2027-01-15 16:00"), at("2027-01-19 08:00"), "it") == 60


def test_whole_days_between_add_up_a_full_day_each() -> None:
    clock = BusinessClock(district(), set())
    # Monday 07:30 -> the next Monday 07:30: five days of nine hours.
    assert clock.minutes(at("2027-02-01 07:30"), at("2027-02-08 07:30"), None) == 5 * 9 * 60


def test_time_outside_hours_and_a_backwards_span_are_zero() -> None:
    clock = BusinessClock(district(), set())
    assert clock.minutes(at("2027-02-06 09:00"), at("2027-02-07 18:00"), None) == 0  # a weekend
    assert clock.minutes(at("2027-02-02 10:00"), at("2027-02-02 09:00"), None) == 0
