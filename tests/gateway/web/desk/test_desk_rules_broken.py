"""The desk while the routing rules file does not load (edited into a mistake after the gateway started): an action
that needs the rules is refused with words saying why, never a 500, and nothing is changed."""

from __future__ import annotations

import os
from pathlib import Path

from gateway.tickets import TicketStore
from tests.gateway.web.desk.conftest import add_desk_staff, desk_config, make_ticket
from tests.gateway.web.staff.conftest import MovingClock, start, stop
from tests.support.gateway import settings_from
from tests.support.redis_server import RedisServer
from tests.support.staff import form_token, sign_in

RULES = """
rules:
  - id: devices
    when: {text_regex: 'chromebook'}
    then: {queue: it}
"""


async def test_an_action_needing_the_rules_says_the_rules_file_is_broken_instead_of_failing(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    config = desk_config(tmp_path, redis_server.url, routing={"rules_file": str(rules)})
    settings = settings_from(config)
    add_desk_staff(settings)
    store = TicketStore.from_settings(settings)
    gw = await start(config, MovingClock())
    try:
        tid = make_ticket(store)
        rules.write_text("rules:\n  - id: devices\n    when: {text_regex: '('}\n    then: {queue: it}\n")
        os.utime(rules, (rules.stat().st_atime, rules.stat().st_mtime + 5))
        http = gw.browser()
        assert (await sign_in(http, gw.base, "abby")).status == 303
        token = form_token(await (await http.get(f"{gw.base}/desk/tickets/{tid}")).text())
        for action, form in (("fields", {"priority": "high"}), ("assign", {"assignee": ""})):
            done = await http.post(f"{gw.base}/desk/tickets/{tid}/{action}", data={**form, "csrf": token},
                                   allow_redirects=False)  # fmt: skip
            assert (done.status, done.headers["Location"]) == (303, f"/desk/tickets/{tid}"), action
            page = await http.get(gw.base + done.headers["Location"])
            assert page.status == 200
            assert "the routing rules file has a mistake" in await page.text()
        assert store.get(tid).priority == "normal" and store.audit_log(ref=tid) == []
    finally:
        await stop(gw)
        store.close()
