"""Which ticket a desk address names, and whether this person may work it: an agent only the tickets of their
departments (403, in words), a supervisor or an administrator every one."""

from __future__ import annotations

from aiohttp import web

from gateway.tickets import Ticket, UnknownTicket
from gateway.web.staff import STAFF, current_user, message


def refused(request: web.Request, ticket: Ticket) -> web.Response | None:
    if current_user(request).works(ticket.queue):
        return None
    return message(request, "other_department_title", "other_department_text", 403)


def not_found(request: web.Request) -> web.Response:
    return message(request, "not_found_title", "not_found_text", 404)


async def workable(request: web.Request) -> Ticket | web.Response:
    """The ticket of the address's `ref`, or the page refusing it."""
    ref = request.match_info["ref"]
    try:
        ticket = await request.app[STAFF].run(lambda store: store.get(ref))
    except (UnknownTicket, ValueError):
        return not_found(request)
    return refused(request, ticket) or ticket
