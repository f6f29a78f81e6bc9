"""Satisfaction surveys at close: whether they go out, when, and how long a family may answer."""

from __future__ import annotations

from pydantic import Field

from gateway.settings.base import Strict


class SurveySettings(Strict):
    # Off until the district decides to ask: a survey is one more message to every family whose request closes.
    enabled: bool = False
    # 0: the survey goes with the resolution; else this many minutes after it (a ticket reopened meanwhile waits for
    # its next resolution).
    delay_minutes: int = Field(0, ge=0, le=14 * 24 * 60)
    # A survey's rating links, its "Reply 1-5" window and its comment are good this many days after it is sent.
    expire_days: int = Field(7, ge=1, le=90)
    # The longest comment a family may leave with their rating.
    comment_max_chars: int = Field(1000, ge=10, le=5000)
    # The share of answers that rate 4 or 5 the district aims for: the dashboard and `intake report csat` compare.
    goal_percent: float = Field(94.0, gt=0, le=100)
