"""A low rating under `low_rating: notify`: which staff accounts hear of it, and what the mail to them says.

Pure: the worker (workers/surveys.py) reads the accounts from the built-in store, sends the mail and notes the
outcome on the ticket. The mail names the request and never the family: no words of theirs, no phone, no address.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gateway.tickets.records import User


@dataclass(frozen=True, slots=True)
class Recipient:
    username: str
    email: str
    why: str  # what the mail says of why they get it: "a supervisor of food"


def recipients_for(users: Iterable[User], department: str) -> list[Recipient]:
    """The switched-on accounts with an email that hear of a low rating in `department`.

    Its supervisors; every supervisor when none works that department; and only when there is no supervisor to
    mail at all, the admins, chosen the same way."""
    reachable = [u for u in users if not u.disabled and u.email]
    dept = department.strip().casefold()
    for role in ("supervisor", "admin"):
        staff = [u for u in reachable if u.role == role]
        mine = [u for u in staff if dept and dept in u.departments]
        article = "an" if role == "admin" else "a"
        if mine:
            return [Recipient(u.username, str(u.email), f"{article} {role} of {dept}") for u in mine]
        if staff:
            why = f"{article} {role} (no {role} works {dept or 'its department'})"
            return [Recipient(u.username, str(u.email), why) for u in staff]
    return []


NOBODY = "no switched-on supervisor or admin account has an email address (intake users update ... or the users page)"


def mail_text(conv: Mapping[str, str], backend: str, reference: str, rating: int, why: str) -> tuple[str, str]:
    """(subject, body) of the mail to one supervisor, in the district's working language."""
    subject = f"Low satisfaction rating ({rating} out of 5): request {reference}"
    ref = conv.get("ticket_ref", "")
    lines = [
        f"The family rated request {reference} {rating} out of 5 in its satisfaction survey.",
        "The routing rules ask a supervisor to follow up with them (low_rating: notify).",
        "",
        f"Reference:  {reference}",
        f"Department: {conv.get('queue') or '(none)'}",
        f"School:     {conv.get('school') or '(none)'}",
        f"Rating:     {rating} out of 5",
        f"Ticket:     {ref} in {backend}"
        + (f" (at the desk, or: intake tickets show {ref})" if backend == "builtin" else ""),
        "",
        "What the family wrote and how to reach them are on the ticket, not in this mail.",
        f"You get this mail as {why}.",
    ]
    return subject, "\n".join(lines) + "\n"
