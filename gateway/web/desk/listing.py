"""GET /desk: the tickets of the departments a person works, filtered, searched, sorted and paged, with the total so
nothing is silently left out; GET /desk/export.csv: the same list, every page of it, as CSV."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, tzinfo

from aiohttp import web

from gateway.accounts.roles import StaffUser
from gateway.server import appkeys as K
from gateway.settings import Settings
from gateway.tickets import Page, Ticket, TicketStore, UnknownTicket
from gateway.tickets.reads import CSV_FIELDS
from gateway.web.desk.choices import Choices, choices
from gateway.web.desk.filters import DESK, PER_PAGE, PRIORITIES, STATUSES, DeskView, read_view
from gateway.web.desk.present import due_state, label
from gateway.web.staff import STAFF, audit, current_user, message, render, requires, words


async def _family(request: web.Request) -> Ticket | web.Response | None:
    """The ticket whose family the list is of (`?family=<id>`), if the person may see it."""
    raw = request.query.get("family", "").strip().lstrip("#")
    if not raw:
        return None
    try:
        ticket = await request.app[STAFF].run(lambda store: store.get(raw))
    except (UnknownTicket, ValueError):
        return message(request, "not_found_title", "not_found_text", 404)
    if not current_user(request).works(ticket.queue):
        return message(request, "other_department_title", "other_department_text", 403)
    return ticket


async def view_for(request: web.Request) -> DeskView | web.Response:
    family = await _family(request)
    if isinstance(family, web.Response):
        return family
    return read_view(request.query, current_user(request), request.app[K.SETTINGS].dashboard.due_soon, family)


def read_list(
    store: TicketStore, view: DeskView, settings: Settings, user: StaffUser, channels: tuple[str, ...], lang: str
) -> tuple[Page[Ticket], Choices]:
    """Everything the list page reads from the store (blocking: on a worker thread; bench/desk_reads.py times it)."""
    found: Page[Ticket] = Page([], 0, 1, view.per_page)
    if not view.nothing:
        found = store.page(view.query, sort=view.sort, page=view.page, per_page=view.per_page)
        if found.page > found.pages:  # past the end (the list shrank): its last page
            found = store.page(view.query, sort=view.sort, page=found.pages, per_page=view.per_page)
    return found, choices(store, settings, user, channels, lang)


@requires("agent")
async def desk_list(request: web.Request) -> web.StreamResponse:
    view = await view_for(request)
    if isinstance(view, web.Response):
        return view
    user = current_user(request)
    settings = request.app[K.SETTINGS]
    channels = tuple(request.app[K.CHANNELS].keys())
    t = words(request)
    found, options = await request.app[STAFF].run(
        lambda store: read_list(store, view, settings, user, channels, t.lang)
    )
    first = (found.page - 1) * found.per_page + 1
    now = datetime.now(UTC)
    return await render(request, "desk/list.html", {
        "view": view, "form": view.form, "found": found, "options": options, "label": label, "due_state": due_state,
        "first": first, "last": first + len(found.items) - 1, "now": now, "soon": now + view.query.due_within,
        "statuses": STATUSES, "priorities": PRIORITIES, "per_pages": PER_PAGE, "desk_path": DESK,
        "family": request.query.get("family", "").strip(),
    })  # fmt: skip


def export_chunks(store: TicketStore, view: DeskView, zone: tzinfo) -> Iterator[str]:
    """The export's CSV text, a header and then a chunk per batch of tickets (blocking: one worker thread)."""
    if view.nothing:
        return iter([",".join(CSV_FIELDS) + "\r\n"])
    return store.export_csv(view.query, sort=view.sort, zone=zone)


@requires("agent")
async def desk_export(request: web.Request) -> web.StreamResponse:
    """Every ticket of the list (no paging), streamed a batch at a time from one worker thread."""
    view = await view_for(request)
    if isinstance(view, web.Response):
        return view
    await audit(request, "desk_export", None, {"filters": {k: v for k, v in view.form.items() if v}})
    staff = request.app[STAFF]
    zone = request.app[K.SETTINGS].zone
    stamp = datetime.now(UTC).astimezone(zone).strftime("%Y-%m-%d-%H%M")
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'attachment; filename="desk-{stamp}.csv"',
    })  # fmt: skip
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    # One thread for the whole export: the database cursor it reads from belongs to the thread that opened it.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="desk-export") as one:
        chunks = await loop.run_in_executor(one, lambda: iter(export_chunks(staff.store(), view, zone)))
        while (chunk := await loop.run_in_executor(one, next, chunks, None)) is not None:
            await response.write(chunk.encode("utf-8"))
    await response.write_eof()
    return response
