"""Staff download a kept attachment by its sha256: only of a request in a department they work (a supervisor: any),
each download written to the audit log; nobody else gets its bytes."""

from __future__ import annotations

from gateway.store.blob_stores import open_blobs
from gateway.tickets import NewAttachment, NewTicket, TicketStore
from tests.gateway.web.staff.conftest import StaffGateway
from tests.support.staff import sign_in

PHOTO = b"\x89PNG\r\n\x1a\n" + b"the bus stop sign, bent" * 40
LAPTOP = b"\x89PNG\r\n\x1a\n" + b"a cracked laptop screen" * 40


def kept(staff: StaffGateway, data: bytes, queue: str, n: int) -> tuple[str, int]:
    """A file kept with a new request of `queue`: (its address's key, the request's number)."""
    key = open_blobs(staff.settings).put(data, "file.png").storage_key
    assert key is not None
    file = NewAttachment(filename="file.png", content_type="image/png", size=len(data), sha256=key, storage_key=key)
    new = NewTicket(conversation=f"conv-{n}", subject="A photo", body="See the photo.", channel="webform", queue=queue,
                    attachments=(file,))  # fmt: skip
    store = TicketStore.from_settings(staff.settings)
    try:
        return key, store.create_ticket(new, idempotency_key=f"req-{n}")
    finally:
        store.close()


def downloads(staff: StaffGateway) -> list[tuple[str, int | None, str]]:
    store = TicketStore.from_settings(staff.settings)
    try:
        entries = [e for e in store.audit_log(limit=1000) if e.action == "attachment_download"]
    finally:
        store.close()
    return [(e.actor, e.ticket_id, e.details["file"]) for e in reversed(entries)]


async def test_a_signed_in_agent_downloads_a_kept_file_and_an_anonymous_visitor_gets_nothing(
    staff: StaffGateway,
) -> None:
    key, _ = kept(staff, PHOTO, "it", 1)
    url = f"{staff.base}/staff/attachments/{key}"

    anonymous = staff.browser()
    page = await anonymous.get(url, headers={"Accept": "text/html"}, allow_redirects=False)
    assert (page.status, page.headers["Location"]) == (303, f"/signin?next=/staff/attachments/{key}")
    script = await anonymous.get(url, params={"name": "stop.png"})
    assert script.status == 401
    assert b"PNG" not in await page.read() + await script.read()

    agent = staff.browser()
    assert (await sign_in(agent, staff.base, "abby")).status == 303
    got = await agent.get(url, params={"name": "stop sign.png"})
    assert (got.status, await got.read()) == (200, PHOTO)
    assert got.headers["Content-Type"] == "image/png"
    assert got.headers["Content-Disposition"] == "attachment; filename*=UTF-8''stop%20sign.png"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    for missing in ("0" * 64, "not-a-digest", key.upper()):
        assert (await agent.get(f"{staff.base}/staff/attachments/{missing}")).status == 404


async def test_an_agent_gets_only_files_of_their_departments_and_a_supervisor_every_one(staff: StaffGateway) -> None:
    photo, bus = kept(staff, PHOTO, "transportation", 1)
    laptop, device = kept(staff, LAPTOP, "it", 2)

    agent = staff.browser()
    assert (await sign_in(agent, staff.base, "abby")).status == 303  # works it only
    refused = await agent.get(f"{staff.base}/staff/attachments/{photo}")
    assert refused.status == 403
    assert b"PNG" not in await refused.read()
    assert (await agent.get(f"{staff.base}/staff/attachments/{laptop}")).status == 200

    supervisor = staff.browser()
    assert (await sign_in(supervisor, staff.base, "sam")).status == 303
    got = await supervisor.get(f"{staff.base}/staff/attachments/{photo}")
    assert (got.status, await got.read()) == (200, PHOTO)

    loose = open_blobs(staff.settings).put(b"bytes no request kept", "loose.bin").storage_key
    assert (await supervisor.get(f"{staff.base}/staff/attachments/{loose}")).status == 404

    assert downloads(staff) == [("abby", device, laptop), ("sam", bus, photo)]  # the refused one is not a download


async def test_a_file_two_requests_kept_is_downloaded_through_the_one_the_agent_works(staff: StaffGateway) -> None:
    key, _ = kept(staff, PHOTO, "transportation", 1)
    _, device = kept(staff, PHOTO, "it", 2)
    agent = staff.browser()
    assert (await sign_in(agent, staff.base, "abby")).status == 303
    assert (await agent.get(f"{staff.base}/staff/attachments/{key}")).status == 200
    assert downloads(staff) == [("abby", device, key)]
