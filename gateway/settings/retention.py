"""How long the gateway keeps families' data it holds itself (Redis, rq's records), and how often it forgets."""

from __future__ import annotations

from pydantic import Field

from gateway.settings.base import Strict


class RetentionSettings(Strict):
    # A conversation, its requests, timeline and thread keys are forgotten this long after its last activity.
    # The ticket system keeps its own records: this is the gateway's copy only.
    days: int = Field(365, ge=1)
    # How often a worker looks for what has expired (one worker at a time, across every host).
    sweep_interval_s: float = Field(3600.0, gt=0)
