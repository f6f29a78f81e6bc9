"""A small iCalendar (RFC 5545) reader for school calendars: the all-day events (holidays, breaks).

District calendars are exported from Google Calendar, Outlook or the student information system.
We need only the days the district is closed, which these exports write as all-day VEVENTs
(`DTSTART;VALUE=DATE:20261221`, with an exclusive `DTEND`). Timed events (a board meeting) are not
closures and are skipped; a repeating all-day event (RRULE) is refused rather than half-understood.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path


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


def _unfold(text: str) -> list[tuple[int, str]]:
    """Content lines with their starting line number; a line starting with a space or tab continues the last."""
    out: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw[:1] in (" ", "\t") and out:
            out[-1] = (out[-1][0], out[-1][1] + raw[1:])
        elif raw.strip():
            out.append((number, raw))
    return out


def _unescape(value: str) -> str:
    return value.replace("\\n", " ").replace("\\N", " ").replace("\\,", ",").replace("\\;", ";").replace("\\\\", "\\")


def _parse_date(value: str) -> date | None:
    v = value.strip()
    if len(v) == 8 and v.isdigit():
        return date(int(v[:4]), int(v[4:6]), int(v[6:]))
    return None


def read_day_events(file: Path) -> list[DayEvent]:
    """The all-day events of an .ics file. Raises IcsError naming the file and line of anything malformed."""
    events: list[DayEvent] = []
    current: dict[str, tuple[int, str, str]] | None = None
    start_line = 0
    for number, line in _unfold(file.read_text(encoding="utf-8-sig")):
        name_params, sep, value = line.partition(":")
        if not sep:
            raise IcsError(file, number, "expected NAME:VALUE")
        name, _, params = name_params.partition(";")
        name = name.upper()
        if name == "BEGIN" and value.upper() == "VEVENT":
            current, start_line = {}, number
        elif name == "END" and value.upper() == "VEVENT":
            if current is None:
                raise IcsError(file, number, "END:VEVENT without BEGIN:VEVENT")
            event = _event(file, start_line, current)
            if event:
                events.append(event)
            current = None
        elif current is not None:
            current[name] = (number, params.upper(), value)
    if current is not None:
        raise IcsError(file, start_line, "VEVENT is not closed (END:VEVENT missing)")
    return events


def _event(file: Path, line: int, props: dict[str, tuple[int, str, str]]) -> DayEvent | None:
    if "DTSTART" not in props:
        raise IcsError(file, line, "VEVENT without DTSTART")
    number, params, value = props["DTSTART"]
    first = _parse_date(value)
    if first is None:
        if "VALUE=DATE" in params:
            raise IcsError(file, number, f"DTSTART {value!r} is not a date (YYYYMMDD)")
        return None  # a timed event: not a closure
    if "RRULE" in props:
        raise IcsError(file, props["RRULE"][0], "repeating all-day events (RRULE) are not supported: list each day")
    last = first
    if "DTEND" in props:
        end_number, _, end_value = props["DTEND"]
        end = _parse_date(end_value)
        if end is None or end <= first:
            raise IcsError(file, end_number, f"DTEND {end_value!r} must be a date after DTSTART")
        last = end - timedelta(days=1)  # DTEND of an all-day event is exclusive
    summary = _unescape(props["SUMMARY"][2]) if "SUMMARY" in props else ""
    return DayEvent(first, last, summary)
