"""The live dashboard's pace and the reports' school calendar (terms and when the school year starts)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from pydantic import Field, field_validator, model_validator

from gateway.settings.base import Strict

# "Due soon" unless the configuration says otherwise (the store's queries default to it too: gateway/tickets/query.py).
DUE_SOON_MINUTES = 240
_MONTH_DAY = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


class DashboardSettings(Strict):
    # A change is shown at most this long after the last refresh: bursts of changes cost one refresh.
    refresh_min_s: float = Field(1.0, gt=0, le=5)
    # With no change at all the picture is still read again this often (clocks run, the last hour slides).
    refresh_max_s: float = Field(15.0, gt=0)
    # "Due soon": a running response clock due within this many minutes, on the dashboard, the desk and the CLI.
    due_soon_minutes: int = Field(DUE_SOON_MINUTES, ge=1)
    # The first-response and resolution times on the dashboard: requests made in this many past days.
    response_days: int = Field(7, ge=1, le=90)

    @property
    def due_soon(self) -> timedelta:
        """The one "due soon" window: the dashboard's counts and the desk's list behind them must use the same."""
        return timedelta(minutes=self.due_soon_minutes)


class Term(Strict):
    name: str = Field(min_length=1)
    start: date
    end: date  # the last day of the term (inclusive)

    @model_validator(mode="after")
    def _ordered(self) -> Term:
        if self.end < self.start:
            raise ValueError(f"term {self.name!r} ends ({self.end}) before it starts ({self.start})")
        return self


class ReportSettings(Strict):
    # The school terms a report's range may name (`--term`, the "School term" range).
    terms: list[Term] = Field(default_factory=list)
    # The school year begins on this month and day (MM-DD): the "Year" range is the school year around a date.
    year_start: str = "07-01"

    @field_validator("year_start")
    @classmethod
    def _month_day(cls, v: str) -> str:
        if not _MONTH_DAY.match(v):
            raise ValueError("expected a month and day like 07-01 (MM-DD)")
        return v
