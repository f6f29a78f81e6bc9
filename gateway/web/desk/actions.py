"""POST /desk/tickets/<id>/<action>: the forms that work a ticket. Each is one call of the desk service
(workers/desk_actions: the store's write with its audit entry, and the family told through the outbox when they
must be), run on a worker thread; then a redirect to the ticket with a flash saying what was done or why not.

The session and its CSRF token are checked before any of this (gateway/web/staff/guard.py); an agent may act only
on the tickets of their departments, and merge only into one of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from gateway.accounts.roles import StaffUser
from gateway.errors import ConfigError
from gateway.models import TicketStatus
from gateway.server import appkeys as K
from gateway.tickets import Refusal, Ticket, UnknownTicket
from gateway.web.desk.access import workable
from gateway.web.desk.filters import DESK
from gateway.web.desk.present import label
from gateway.web.names import department_name
from gateway.web.staff import STAFF, current_user, flash, read_form, requires, words
from workers.desk_actions import DeskService

log = logging.getLogger("intake.web.desk")

MAX_BODY = 10_000
Outcome = tuple[str, dict[str, Any]]  # a words key and its values, for the flash
Action = Callable[[DeskService, Ticket, StaffUser, dict[str, str]], Outcome]


class Refused(Exception):
    """An action not done for a reason the page says in its own words (`key` in the desk's words)."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key, self.values = key, values


def _body(form: dict[str, str], name: str = "body") -> str:
    body = form.get(name, "").replace("\r\n", "\n").strip()
    if not body:
        raise Refused("err_empty")
    if len(body) > MAX_BODY:
        raise Refused("err_too_long")  # refused whole: a reply cut short without a word would reach the family
    return body


def reply(desk: DeskService, ticket: Ticket, user: StaffUser, form: dict[str, str]) -> Outcome:
    desk.reply(ticket.id, _body(form), user.username)
    return "done_reply", {"id": ticket.id}


def note(desk: DeskService, ticket: Ticket, user: StaffUser, form: dict[str, str]) -> Outcome:
    desk.note(ticket.id, _body(form), user.username)
    return "done_note", {"id": ticket.id}


def status(desk: DeskService, ticket: Ticket, user: StaffUser, form: dict[str, str]) -> Outcome:
    try:
        chosen = TicketStatus(form.get("status", ""))
    except ValueError:
        raise Refused("err_choice") from None
    comment = form.get("comment", "").replace("\r\n", "\n").strip() or None
    if comment is not None and len(comment) > MAX_BODY:
        raise Refused("err_too_long")
    desk.set_status(ticket.id, chosen, user.username, comment)  # audited by the store, with the change
    return "done_status", {"id": ticket.id, "status": chosen.value}


def fields(desk: DeskService, ticket: Ticket, user: StaffUser, form: dict[str, str]) -> Outcome:
    current = {"priority": ticket.priority, "category": ticket.category or "", "queue": ticket.queue}
    changed = {k: v for k in current if (v := form.get(k, "").strip()) and v != current[k]}
    if changed:
        desk.update_fields(ticket.id, user.username, **changed)
    if not user.works(changed.get("queue", ticket.queue)):  # sent to a department this agent does not work
        return "done_moved", {"id": ticket.id, "queue": changed["queue"], "to": DESK}
    return "done_fields", {"id": ticket.id}


def assign(desk: DeskService, ticket: Ticket, user: StaffUser, form: dict[str, str]) -> Outcome:
    assignee = form.get("assignee", "").strip() or None
    desk.assign(ticket.id, assignee, user.username)
    now = desk.store.get(ticket.id).assignee
    return ("done_assign", {"id": ticket.id, "assignee": now}) if now else ("done_unassign", {"id": ticket.id})


def merge(desk: DeskService, ticket: Ticket, user: StaffUser, form: dict[str, str]) -> Outcome:
    into = form.get("into", "").strip().lstrip("#")
    if not into.isdigit():
        raise Refused("err_ticket_number")
    target = desk.store.get(into)
    if not user.works(target.queue):
        raise Refused("other_department_text")
    desk.merge(ticket.id, target.id, user.username)
    return "done_merge", {"id": ticket.id, "into": target.id}


def incident(desk: DeskService, ticket: Ticket, user: StaffUser, form: dict[str, str]) -> Outcome:
    chosen = form.get("incident", "").strip().lstrip("#")[:64] or None
    desk.link_incident(ticket.id, chosen, user.username)
    if chosen is None:
        return "done_unlink", {"id": ticket.id}
    return "done_incident", {"id": ticket.id, "incident": chosen}


def log_time(desk: DeskService, ticket: Ticket, user: StaffUser, form: dict[str, str]) -> Outcome:
    raw = form.get("minutes", "").strip()
    if not raw.isdigit() or not 0 < int(raw) <= 24 * 60:
        raise Refused("err_minutes")
    note_text = form.get("note", "").strip()[:500] or None
    desk.log_time(ticket.id, user.username, int(raw), form.get("work_type", ""), user.username, note_text)
    return "done_time", {"id": ticket.id, "minutes": int(raw)}


ACTIONS: dict[str, Action] = {
    "reply": reply, "note": note, "status": status, "fields": fields, "assign": assign, "merge": merge,
    "incident": incident, "time": log_time,
}  # fmt: skip


@requires("agent")
async def act(request: web.Request) -> web.StreamResponse:
    action = ACTIONS.get(request.match_info["action"])
    if action is None:
        raise web.HTTPNotFound()
    ticket = await workable(request)
    if isinstance(ticket, web.Response):
        return ticket
    form = await read_form(request)
    user = current_user(request)
    app = request.app
    settings, connection = app[K.SETTINGS], app[K.SYNC_REDIS]
    kind = "success"
    try:
        key, values = await app[STAFF].run(lambda store: action(DeskService(store, settings, connection), ticket, user,
                                                                form))  # fmt: skip
    except Refused as refusal:
        kind, key, values = "error", refusal.key, refusal.values
    except UnknownTicket:
        kind, key, values = "error", "not_found_text", {}
    except Refusal as refusal:  # the service's (a merge refused, an unknown incident, a value not allowed)
        kind, key, values = "error", f"refused_{refusal.code}", dict(refusal.values)
        if "field" in values:
            values["field"] = label(words(request), "field", str(values["field"]))
    except ValueError as exc:  # any other of the service's refusals, in its own words
        kind, key, values = "error", "refused", {"reason": str(exc)}
    except ConfigError:  # the rules file was changed into one that does not load: the form cannot be checked
        log.warning("desk action refused: the rules file does not load", extra={"action": request.match_info["action"]})
        kind, key, values = "error", "err_rules", {}
    if key == "done_status":
        values["status"] = label(words(request), "status", str(values["status"]))
    if key == "done_moved":
        values["queue"] = department_name(settings, str(values["queue"]), words(request).lang)
    target = str(values.pop("to", "")) or f"{DESK}/tickets/{values.get('into', ticket.id)}"
    await flash(request, key, kind, **values)
    return web.Response(status=303, headers={"Location": target, "Cache-Control": "no-store"})
