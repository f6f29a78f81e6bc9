"""Quiet hours for texts to families: when a non-urgent update waits until morning. Pure functions."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

# Answers to something the family just sent go at once, whatever the hour: they are waiting for them.
NEVER_HELD = frozenset({"received", "help", "status_report", "opted_out", "csat_answer"})


def parse_window(spec: str) -> tuple[time, time] | None:
    """'21:00-08:00' -> (21:00, 08:00); '' -> None (no quiet hours)."""
    if not spec:
        return None
    start, end = spec.split("-", 1)
    return time.fromisoformat(start), time.fromisoformat(end)


def quiet_until(now: datetime, spec: str, zone: ZoneInfo) -> datetime | None:
    """The end of the quiet window `now` falls in (aware, UTC-comparable), or None outside it."""
    window = parse_window(spec)
    if window is None:
        return None
    start, end = window
    local = now.astimezone(zone)
    t = local.time()
    inside = (start <= t or t < end) if start > end else (start <= t < end)
    if not inside:
        return None
    day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone)


def hold_until(
    now: datetime, *, event: str, priority: str, urgent: list[str], spec: str, zone: ZoneInfo,
    not_before: datetime | None,
) -> datetime | None:  # fmt: skip
    """When a reply must wait (None: send now)."""
    if event in NEVER_HELD or priority in urgent:
        return None
    if not_before is not None and now >= not_before:
        return None  # this is the morning run of a held reply
    return quiet_until(now, spec, zone)
