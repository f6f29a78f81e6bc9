"""What a desk list asks for, read from its address: the filters, the search, the sort and the page, always within
the departments the person works. The same reading serves the page, its paging links and its CSV export, so the
export is exactly the list shown (all its pages)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import cast
from urllib.parse import urlencode

from gateway.accounts.roles import StaffUser
from gateway.models import Priority, TicketStatus
from gateway.tickets import DUES, SORTS, Sort, Ticket, TicketQuery

DESK = "/desk"
# The names of the list's fields in its address, in the order a link writes them.
FIELDS = ("q", "status", "priority", "assignee", "queue", "channel", "school", "language", "due", "sort",
          "per_page", "family", "incident", "page")  # fmt: skip
STATUSES = ("open", "any", "done", *(s.value for s in TicketStatus))
PRIORITIES = tuple(p.value for p in reversed(Priority))  # urgent first
PER_PAGE = (25, 50, 100)
DEFAULTS = {"status": "open", "sort": "priority", "per_page": "50", "page": "1"}
MAX_TEXT = 200


@dataclass(frozen=True)
class DeskView:
    """One list: the store's query, its sort and page, and the form's values as given (for the form and links)."""

    query: TicketQuery
    sort: Sort
    page: int
    per_page: int
    form: dict[str, str]
    nothing: bool = False  # the person works no department (or the family has no address): nothing to ask for

    def link(self, **changes: str | int) -> str:
        """This list's address with some fields changed (a page, a sort); defaults are left out."""
        values = {**self.form, **{k: str(v) for k, v in changes.items()}}
        kept = [(k, values[k]) for k in FIELDS if values.get(k) and values.get(k) != DEFAULTS.get(k)]
        return DESK + (f"?{urlencode(kept)}" if kept else "")

    def export_link(self) -> str:
        values = {k: v for k, v in self.form.items() if k != "page"}
        kept = [(k, values[k]) for k in FIELDS if values.get(k) and values.get(k) != DEFAULTS.get(k)]
        return DESK + "/export.csv" + (f"?{urlencode(kept)}" if kept else "")


def _int(raw: str | None, default: int, low: int = 1) -> int:
    try:
        return max(low, int(raw or default))
    except ValueError:
        return default


def _one(raw: str | None) -> tuple[str, ...]:
    value = (raw or "").strip()[:MAX_TEXT]
    return (value,) if value else ()


def read_view(
    params: Mapping[str, str], user: StaffUser, due_within: timedelta, family: Ticket | None = None
) -> DeskView:
    """The list the address asks for, as `user` may see it (an agent: their departments only). `due_within` is
    "due soon" (`dashboard.due_soon_minutes`): the dashboard's counts link here and must find the same tickets."""
    form = {k: (params.get(k) or "").strip()[:MAX_TEXT] for k in FIELDS}
    status = form["status"] if form["status"] in STATUSES else DEFAULTS["status"]
    sort = cast(Sort, form["sort"] if form["sort"] in SORTS else DEFAULTS["sort"])
    per_page = _int(form["per_page"], 50)
    per_page = per_page if per_page in PER_PAGE else 50
    form.update(status=status, sort=sort, per_page=str(per_page))
    query = TicketQuery(
        status=() if status == "any" else (status,),
        priority=tuple(p for p in _one(form["priority"]) if p in PRIORITIES),
        channel=_one(form["channel"]), school=_one(form["school"]), language=_one(form["language"]),
        due=next((d for d in DUES if d == form["due"]), None), due_within=due_within, text=form["q"],
        incident_id=form["incident"] or None,
    )  # fmt: skip
    query = _assignee(query, form["assignee"], user)
    nothing = False
    if user.sees_every_department:
        query = replace(query, queue=_one(form["queue"]))
    else:
        asked = form["queue"]
        query = replace(query, queue=(asked,) if asked in user.departments else tuple(user.departments))
        nothing = not user.departments
    if family is not None:
        contacts = tuple(c for c in (family.requester_email, family.requester_phone) if c)
        query = replace(query, requester=contacts)
        nothing = nothing or not contacts
    return DeskView(query, sort, _int(form["page"], 1), per_page, form, nothing)


def _assignee(query: TicketQuery, asked: str, user: StaffUser) -> TicketQuery:
    if asked == "me":
        return replace(query, assignee=(user.username,))
    if asked == "none":
        return replace(query, unassigned=True)
    if asked == "me_or_none":
        return replace(query, assignee=(user.username,), unassigned=True)
    return replace(query, assignee=(asked,)) if asked else query
