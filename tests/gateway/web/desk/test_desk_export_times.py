"""The desk's CSV export gives times with the district's offset (America/Chicago here), never in UTC."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

from gateway.tickets import TicketStore
from tests.gateway.web.desk.conftest import make_ticket
from tests.gateway.web.staff.conftest import StaffGateway
from tests.support.staff import sign_in


async def test_the_desk_export_gives_times_in_the_districts_zone(desk: StaffGateway, store: TicketStore) -> None:
    made = make_ticket(store)
    created = store.get(made).created_at
    abby = desk.browser()
    assert (await sign_in(abby, desk.base, "abby")).status == 303
    export = await abby.get(f"{desk.base}/desk/export.csv")
    assert export.status == 200
    [row] = list(csv.DictReader(io.StringIO(await export.text())))
    shown = datetime.fromisoformat(row["created_at"])
    assert shown == created
    # Chicago is never at UTC's offset: a time exported in UTC fails here.
    assert shown.utcoffset() == created.astimezone(ZoneInfo("America/Chicago")).utcoffset()
    assert row["updated_at"].endswith(row["created_at"][-6:])
