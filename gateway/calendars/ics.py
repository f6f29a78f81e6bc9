"""School calendars from iCalendar (RFC 5545) exports, read with `icalendar` and expanded with
`recurring-ical-events`: Google Calendar, Outlook and student information systems alike.

What a calendar file says about when the district is closed:
- **all-day events** (`DTSTART;VALUE=DATE`, with an exclusive `DTEND`): the whole day is closed, for
  each day of a multi-day break, and for every occurrence of a repeating one (`RRULE`, `RDATE`), except
  the dates it lists in `EXDATE`;
- **timed events** (a board meeting, a weekly early release at 13:00) are skipped, unless the calendar
  names the file with `timed_events: closed`: then each occurrence closes its span of that day, in the
  event's own time zone (`TZID`) or UTC, so a weekly early release stops the response clocks from 13:00.
Repeats are expanded over a window around today (a year back, two ahead): a calendar is read again
when the rules are reloaded, and an .ics that is still in use is re-exported each school year.
Anything malformed is an IcsError naming the file and the line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import recurring_ical_events

WINDOW_BACK = timedelta(days=366)
WINDOW_AHEAD = timedelta(days=2 * 366)


class IcsError(ValueError):
    def __init__(self, file: Path, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")


@dataclass(frozen=True)
class DayEvent:
    first: date
    last: date  # inclusive
    summary: str

    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


@dataclass(frozen=True)
class TimedEvent:
    """One occurrence of a timed event, as instants (UTC)."""

    start: datetime
    end: datetime
    summary: str


@dataclass(frozen=True)
class IcsEvents:
    days: list[DayEvent]
    timed: list[TimedEvent]


def _check_structure(file: Path, text: str) -> dict[str, int]:
    """What icalendar does not tell: the line of a malformed content line or an unclosed VEVENT.

    Returns each VEVENT's UID (or its position) -> the line it starts on, for naming lines later.
    """
    starts: dict[str, int] = {}
    open_at = 0
    count = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw[:1] in (" ", "\t") or not raw.strip():
            continue  # a folded continuation, or a blank line
        name_params, sep, value = raw.partition(":")
        if not sep:
            raise IcsError(file, number, "expected NAME:VALUE")
        name = name_params.partition(";")[0].upper()
        if name == "BEGIN" and value.strip().upper() == "VEVENT":
            open_at, count = number, count + 1
            starts[f"#{count}"] = number
        elif name == "END" and value.strip().upper() == "VEVENT":
            if not open_at:
                raise IcsError(file, number, "END:VEVENT without BEGIN:VEVENT")
            open_at = 0
        elif name == "UID" and open_at:
            starts[value.strip()] = open_at
    if open_at:
        raise IcsError(file, open_at, "VEVENT is not closed (END:VEVENT missing)")
    return starts


def _line(starts: dict[str, int], event: Any, position: int) -> int:
    return starts.get(str(event.get("UID", "")), starts.get(f"#{position}", 1))


def _as_date(value: Any) -> date | None:
    return value if isinstance(value, date) and not isinstance(value, datetime) else None


def _as_instant(value: Any) -> datetime:
    assert isinstance(value, datetime)
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)  # floating time: read as UTC


def _decoded(event: Any, name: str) -> Any:
    try:
        return event.decoded(name) if name in event else None
    except (ValueError, TypeError, AttributeError, KeyError):
        return None  # icalendar keeps a property it could not read: reported by the caller


def _raw(event: Any, name: str) -> str:
    prop = event.get(name)
    value = getattr(prop, "to_ical", None)
    try:
        return value().decode() if value else str(prop)
    except (ValueError, TypeError, AttributeError):
        return str(prop)


def _validate(file: Path, starts: dict[str, int], events: list[Any]) -> None:
    for position, event in enumerate(events, start=1):
        line = _line(starts, event, position)
        if "DTSTART" not in event:
            raise IcsError(file, line, "VEVENT without DTSTART")
        first, end = _decoded(event, "DTSTART"), _decoded(event, "DTEND")
        if not isinstance(first, date):
            raise IcsError(file, line, f"DTSTART {_raw(event, 'DTSTART')!r} is not a date (YYYYMMDD) or a time")
        if "DTEND" in event and not isinstance(end, date):
            raise IcsError(file, line, f"DTEND {_raw(event, 'DTEND')!r} is not a date (YYYYMMDD) or a time")
        if end is not None and type(end) is type(first) and end <= first:
            raise IcsError(file, line, f"DTEND {end!s} must be a date after DTSTART")


def _parse(file: Path) -> Any:
    text = file.read_text(encoding="utf-8-sig")
    starts = _check_structure(file, text)
    body = text if "BEGIN:VCALENDAR" in text.upper() else f"BEGIN:VCALENDAR\r\n{text}\r\nEND:VCALENDAR\r\n"
    try:
        cal = icalendar.Calendar.from_ical(body)
    except ValueError as exc:
        raise IcsError(file, 1, f"not an iCalendar file ({exc})") from None
    _validate(file, starts, list(cal.walk("VEVENT")))
    return cal


def read_ics(file: Path, today: date | None = None) -> IcsEvents:
    """Every all-day and timed event of an .ics file, repeats expanded over the window around `today`."""
    cal = _parse(file)
    today = today or datetime.now(UTC).date()
    try:
        occurrences = recurring_ical_events.of(cal).between(today - WINDOW_BACK, today + WINDOW_AHEAD)
    except (ValueError, TypeError) as exc:  # a repeat rule the library cannot expand
        raise IcsError(file, 1, f"a repeating event cannot be expanded ({exc})") from None
    days: list[DayEvent] = []
    timed: list[TimedEvent] = []
    for event in occurrences:
        summary = str(event.get("SUMMARY", "")).replace("\n", " ").strip()
        start = event.decoded("DTSTART")
        end = event.decoded("DTEND") if "DTEND" in event else None
        first = _as_date(start)
        if first is not None:
            stop = _as_date(end)
            last = stop - timedelta(days=1) if stop is not None and stop > first else first  # DTEND is exclusive
            days.append(DayEvent(first, last, summary))
        else:
            begin = _as_instant(start)
            finish = _as_instant(end) if isinstance(end, datetime) else begin + event.decoded("DURATION", timedelta())
            if finish > begin:
                timed.append(TimedEvent(begin, finish, summary))
    days.sort(key=lambda e: (e.first, e.summary))
    timed.sort(key=lambda e: e.start)
    return IcsEvents(days, timed)


def read_day_events(file: Path, today: date | None = None) -> list[DayEvent]:
    """The all-day events of an .ics file (every occurrence of a repeating one), in date order."""
    return read_ics(file, today).days
