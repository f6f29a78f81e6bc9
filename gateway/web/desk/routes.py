"""The desk's routes, added with one call beside the staff pages' (gateway/server/app.py)."""

from __future__ import annotations

from aiohttp import web

from gateway.web.desk.actions import act
from gateway.web.desk.filters import DESK
from gateway.web.desk.listing import desk_export, desk_list
from gateway.web.desk.ticket_page import ticket_page

TICKET = DESK + "/tickets/{ref:[0-9]+}"


def add_desk_routes(app: web.Application) -> None:
    """GET /desk, /desk/export.csv, /desk/tickets/<id>, and POST /desk/tickets/<id>/<action> (actions.py). Needs
    the staff pages' services (app[STAFF])."""
    app.router.add_get(DESK, desk_list)
    app.router.add_get(DESK + "/export.csv", desk_export)
    app.router.add_get(TICKET, ticket_page)
    app.router.add_post(TICKET + "/{action:[a-z]+}", act)
