"""Writing rules files and messages for the rules tests."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gateway.models import InboundMessage, Requester
from gateway.outbox.templating import TEMPLATE_DIR
from gateway.routing.loader import load_rules
from gateway.routing.model import RuleSet

ZONE = ZoneInfo("America/Chicago")

CALENDARS = """
calendars:
  district:
    hours: {mon-fri: "07:30-16:30"}
    departments:
      transportation: {mon-fri: "06:00-17:30"}
sla_policies:
  standard:
    calendar: district
    urgent: {first_response: 30m, resolution: 4h}
    normal: {first_response: 8h, resolution: 40h}
groups:
  techs: {members: [ana, ben, chen], balance: round_robin}
"""


def write_rules(directory: Path, rules: str, *, with_calendars: bool = True, name: str = "rules.yaml") -> Path:
    path = directory / name
    head = CALENDARS if with_calendars else ""
    path.write_text(textwrap.dedent(head) + textwrap.dedent(rules))
    return path


def load(path: Path) -> RuleSet:
    return load_rules(path, zone=ZONE, backends={"builtin"}, templates=TEMPLATE_DIR)


def local(text: str) -> datetime:
    """A district-local wall time, e.g. "2026-12-01 20:00" (a Tuesday evening)."""
    return datetime.fromisoformat(text).replace(tzinfo=ZONE)


def message(**fields: Any) -> InboundMessage:
    requester = Requester(**fields.pop("requester", {}))
    base: dict[str, Any] = {
        "id": "01TEST",
        "channel": "sms",
        "account": "+15550001111",
        "sender": "+15557654321",
        "text": "Hello",
        "received_at": local("2026-12-01 10:00"),
    }
    base.update(fields)
    return InboundMessage(requester=requester, **base)
