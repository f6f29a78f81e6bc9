"""Meta's 24-hour window: how a reply may reach a family on Messenger, Instagram or WhatsApp. Pure.

A free-form reply is allowed only within 24 hours of the family's last message. Outside it:
- WhatsApp sends an approved template, named in config for the event and the reply's language;
- Messenger and Instagram may send with the HUMAN_AGENT tag up to 7 days after the family's last message,
  for a reply a person wrote (a staff member's comment), never for an automatic one (an acknowledgement,
  a bare status change, an incident broadcast);
- otherwise the reply goes out another channel the family has (a text to their phone, an email), in the
  configured order; failing that, it is not deliverable and the ticket says so.
Meta has the last word: a send it refuses for the window is decided again without that way; when the
person cannot be reached on the channel at all, every Meta way is ruled out and only the others remain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)

Way = Literal["free_form", "template", "human_agent", "sms", "email", "not_deliverable"]
OTHER_CHANNELS: tuple[Way, ...] = ("sms", "email")


@dataclass(frozen=True, slots=True)
class Decision:
    way: Way
    why: str  # for the timeline and the ticket: names no person


def decide(
    product: str,
    *,
    last_message_at: datetime | None,
    now: datetime,
    by_person: bool,
    has_template: bool,
    other_channels: Sequence[Way],
    refused_here: frozenset[Way] = frozenset(),
) -> Decision:
    """How this reply goes out. `other_channels`: the family's other channels we can use now, in order of
    preference; `refused_here`: the ways Meta already refused for this reply."""
    since = now - last_message_at if last_message_at is not None else None
    within = since is not None and since < WINDOW
    if within and "free_form" not in refused_here:
        return Decision("free_form", "within 24 hours of the family's last message")
    closed = "the 24-hour window had closed" if not within else "Meta refused the reply on this channel"
    if product == "whatsapp" and has_template and "template" not in refused_here:
        return Decision("template", f"{closed}: sent as an approved template")
    if (
        product in ("messenger", "instagram")
        and by_person
        and since is not None
        and since < HUMAN_AGENT_WINDOW
        and "human_agent" not in refused_here
    ):
        return Decision("human_agent", f"{closed}: a staff member's reply within 7 days, sent with the HUMAN_AGENT tag")
    for way in other_channels:
        if way in OTHER_CHANNELS and way not in refused_here:
            return Decision(way, f"{closed}: sent by {'text message' if way == 'sms' else 'email'} instead")
    return Decision("not_deliverable", f"{closed}, and the family has no other channel we can use")


# What a refusal by Meta rules out for the rest of this reply's tries.
META_WAYS: frozenset[Way] = frozenset({"free_form", "template", "human_agent"})
