"""GET /desk/tickets/<id>: one ticket with its whole conversation across channels, its files, why its messages
were threaded together and which routing rules matched, its response clocks, its incident and the family's
other requests, and the forms that work it (actions.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from aiohttp import web

from gateway.accounts.roles import StaffUser
from gateway.models import Priority, TicketStatus
from gateway.server import appkeys as K
from gateway.settings import Settings
from gateway.tickets import Page, Ticket, TicketDetails, TicketQuery, TicketStore, UnknownTicket
from gateway.web.desk.access import not_found, refused
from gateway.web.desk.choices import Choices, choices
from gateway.web.desk.conversation import entries, previewable
from gateway.web.desk.filters import DESK
from gateway.web.desk.present import label, size
from gateway.web.desk.threading import read_threading
from gateway.web.staff import STAFF, current_user, render, requires, words
from gateway.web.staff.files import ATTACHMENTS_PATH

FAMILY_SHOWN = 10


def family_query(ticket: Ticket, departments: tuple[str, ...] | None) -> TicketQuery | None:
    """The family's requests (same email or phone), within the departments the person sees (None: every one)."""
    contacts = tuple(c for c in (ticket.requester_email, ticket.requester_phone) if c)
    if not contacts or departments == ():
        return None
    return TicketQuery(requester=contacts, queue=departments or ())


def read_ticket(
    store: TicketStore, ref: str, settings: Settings, user: StaffUser, channels: tuple[str, ...], lang: str
) -> tuple[TicketDetails, Page[Ticket], Choices]:
    """Everything the ticket page reads from the store (blocking: on a worker thread; bench/desk_reads.py times
    it): the ticket with its conversation, files, history and time, the family's other requests, the choices."""
    details = store.details(ref)
    family: Page[Ticket] = Page([], 0, 1, FAMILY_SHOWN)
    query = family_query(details.ticket, None if user.sees_every_department else tuple(user.departments))
    if query is not None and user.works(details.ticket.queue):
        family = store.page(query, sort="newest", per_page=FAMILY_SHOWN + 1)
    return details, family, choices(store, settings, user, channels, lang)


@requires("agent")
async def ticket_page(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    settings = request.app[K.SETTINGS]
    channels = tuple(request.app[K.CHANNELS].keys())
    t = words(request)
    ref = request.match_info["ref"]
    try:
        details, family, options = await request.app[STAFF].run(
            lambda store: read_ticket(store, ref, settings, user, channels, t.lang)
        )
    except (UnknownTicket, ValueError):
        return not_found(request)
    ticket = details.ticket
    refusal = refused(request, ticket)
    if refusal is not None:
        return refusal
    others = [f for f in family.items if f.id != ticket.id][:FAMILY_SHOWN]
    family = replace(family, items=others, total=max(0, (family.total or 0) - 1))  # a family's list is always counted
    threading = await read_threading(request.app[K.REDIS], ticket.conversation, ticket.id)
    return await render(request, "desk/ticket.html", {
        "ticket": ticket, "details": details, "entries": entries(details), "family": family,
        "threading": threading, "options": options, "now": datetime.now(UTC), "label": label, "size": size,
        "previewable": previewable, "files_path": ATTACHMENTS_PATH, "desk_path": DESK,
        "statuses": [s.value for s in TicketStatus], "priorities": [p.value for p in reversed(Priority)],
        "minutes_total": sum(e.minutes for e in details.time_entries),
    })  # fmt: skip
