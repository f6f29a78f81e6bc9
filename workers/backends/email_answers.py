"""What comes back from a help desk fed by mail: its answers and closing notices, mailed to a relay address.

Each forwarded request names a relay address on a gateway mailbox as its Reply-To (`help+<token>@`, the
conversation's reply token), standing for a family the help desk cannot mail (a texter, a Slack or Meta user).
The mail poller reads what arrives there; mail from the help desk's own addresses (`answers_from`) becomes a
status event here, and the events worker tells the family on their own channel. Anyone else's mail to a relay
address is ordinary mail: a reply token never lets a stranger into a family's conversation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cached_property

from pydantic import Field, field_validator

from gateway.intake.conversations import normalize_address
from gateway.models import InboundMessage, StatusEvent, TicketStatus
from gateway.settings.base import Strict
from normalizers.email import strip_subject_prefixes
from workers.backends.wording import MARK

# The closing notices help desks send by default, in English and Spanish: "Resolved: <subject>" (RT),
# "Ticket Resolved - <subject>" (Freshdesk), "Request #123 has been solved" (Zendesk), "Ticket closed". A subject
# that only begins with the word ("Closed captions on the video") is a family's own subject, not a notice.
_TAG = r"^(?:\[[^\]]*\]\s*)?"
_NUMBER = r"\s*(?:#\s*\S+\s*)?"
CLOSING_SUBJECT = (
    _TAG + r"(?:resolved|closed|solved)\s*[:\-\u2013]",
    _TAG + r"(?:ticket|request|case)" + _NUMBER + r"(?:has\s+been\s+)?(?:resolved|closed|solved)\b",
    _TAG + r"(?:resuelt[oa]|cerrad[oa]|solucionad[oa])\s*[:\-\u2013]",
    _TAG + r"(?:ticket|solicitud|caso|petici[oó]n)" + _NUMBER + r"(?:ha\s+sido\s+)?(?:resuelt|cerrad|solucionad)[oa]\b",
)
CLOSING_BODY = (
    r"\b(?:has|have)\s+been\s+(?:resolved|closed|solved)\b",
    r"\b(?:ha|han)\s+sido\s+(?:resuelt|cerrad|solucionad)[oa]s?\b",
    r"\bse\s+ha\s+(?:resuelto|cerrado|solucionado)\b",
)
HELP_DESK = r"^(?:[^@\s]+)?@[^@\s]+\.[^@\s]+$"
_MARK_LINE = re.compile(rf"^{MARK}\S+$")


class ClosingRule(Strict):
    """`backends.email.closing`: how the help desk's closing notice is known, by its subject or its new text.

    Case-blind regular expressions; a mail that matches any of them resolves the request."""

    subject: list[str] = Field(default_factory=lambda: list(CLOSING_SUBJECT))
    body: list[str] = Field(default_factory=lambda: list(CLOSING_BODY))

    @field_validator("subject", "body")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for p in patterns:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"{p!r} is not a regular expression: {exc}") from None
        return patterns

    @cached_property
    def _compiled(self) -> tuple[tuple[re.Pattern[str], ...], tuple[re.Pattern[str], ...]]:
        return (tuple(re.compile(p, re.IGNORECASE) for p in self.subject),
                tuple(re.compile(p, re.IGNORECASE) for p in self.body))  # fmt: skip

    def closes(self, subject: str, text: str) -> bool:
        subjects, bodies = self._compiled
        bare = strip_subject_prefixes(subject)
        return any(p.search(bare) for p in subjects) or any(p.search(text) for p in bodies)


def is_help_desk(sender: str, addresses: Iterable[str]) -> bool:
    """Whether `sender` is one of the help desk's addresses (`@desk.example.com`: anyone at that domain)."""
    who = normalize_address(sender)
    for entry in addresses:
        entry = entry.strip().lower()
        if who == normalize_address(entry) or (entry.startswith("@") and who.endswith(entry)):
            return True
    return False


def carries_our_mark(text: str) -> bool:
    """Whether a mail's own text (quotes removed) has the `intake-id:` line our forwards carry: our words echoed."""
    return any(_MARK_LINE.match(line.strip()) for line in text.splitlines())


def answer_events(backend: str, m: InboundMessage, ticket_ref: str, status: TicketStatus,
                  closing: ClosingRule) -> list[StatusEvent]:  # fmt: skip
    """The help desk's mail on a request's ticket as status events: a closing notice resolves it (quoting what a
    person wrote with it), a person's answer is quoted to the family with no change of status, and anything else
    (an automatic acknowledgement, our own words echoed back) tells the family nothing."""
    said = m.text.strip()
    if carries_our_mark(said):
        return []
    automatic = m.flags.auto_reply
    delivery = f"mail:{m.provider_id}"  # the same mail fetched again is the same event
    actor = m.requester.display_name or "staff"
    if closing.closes(m.subject, said):
        comment = None if automatic or not said else said
        return [StatusEvent(backend=backend, ticket_ref=ticket_ref, status=TicketStatus.RESOLVED,
                            public_comment=comment, actor=actor, delivery_id=delivery)]  # fmt: skip
    if automatic or not said:
        return []
    return [StatusEvent(backend=backend, ticket_ref=ticket_ref, status=status, public_comment=said, actor=actor,
                        delivery_id=delivery)]  # fmt: skip
