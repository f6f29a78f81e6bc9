"""Staff download a kept attachment by its sha256; nobody else gets its bytes."""

from __future__ import annotations

from gateway.store.blob_stores import open_blobs
from tests.gateway.web.staff.conftest import StaffGateway
from tests.support.staff import sign_in

PHOTO = b"\x89PNG\r\n\x1a\n" + b"the bus stop sign, bent" * 40


async def test_a_signed_in_agent_downloads_a_kept_file_and_an_anonymous_visitor_gets_nothing(
    staff: StaffGateway,
) -> None:
    key = open_blobs(staff.settings).put(PHOTO, "stop.png").storage_key
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
    for missing in ("0" * 64, "not-a-digest", key.upper() if key else ""):
        assert (await agent.get(f"{staff.base}/staff/attachments/{missing}")).status == 404
