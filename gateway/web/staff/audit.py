"""Recording what staff do, from a request: `await audit(request, "download", ticket, {"file": 3})`.

The actor is the signed-in person unless one is named. Desk actions that change a ticket (gateway/tickets/desk.py)
write their own entry in the same transaction as the change; this is for everything else a person does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gateway.web.staff.context import current_user
from gateway.web.staff.services import STAFF


async def audit(
    request: web.Request, action: str, ticket: str | int | None = None, details: Mapping[str, Any] | None = None,
    *, actor: str | None = None,
) -> None:  # fmt: skip
    """One audit entry: who (`actor`, else the signed-in person), what (`action`), to which ticket, details."""
    who = actor or current_user(request).username
    await request.app[STAFF].run(lambda store: store.audit.record(who, action, ticket, details))
