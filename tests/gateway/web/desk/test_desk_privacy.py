"""No family's words, phone number or email, and no staff member's reply, note, comment or search, in any log line
of the desk: every desk action through its pages and through `intake tickets ...`, the workers that tell the
family, and the logs of every process read back (the web app's, in this process, through the production JSON
formatter; each command's and worker's, from their own output)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from urllib.parse import quote

import aiohttp

from gateway import keys
from gateway.store.redis_conn import sync_client
from tests.conftest import form
from tests.gateway.web.staff.conftest import StaffGateway
from tests.support.gateway import TOKEN, intake
from tests.support.staff import form_token, sign_in

NAME = "Quennell Abernathy-Szabo"
EMAIL = "q.abernathy.szabo.4417@example.net"
PHONE_RAW = "(555) 014-7733"
PHONE = "+15550147733"
ASKED = "Zebulon left the purple inhaler in locker 5521"
ASKED_AGAIN = "Zebulon still has no inhaler, Marguerite says"
REPLY = "Nurse Okonkwo-Brandt keeps the inhaler until Friday"
NOTE = "Grandmother Philippa collects Zebulon on Wednesdays"
STATUS_COMMENT = "Counselor Thistlewood phones you tonight"
TIME_NOTE = "Walked Zebulon to the clinic with Mrs Vantongeren"
TOO_LONG = "Kestrelwick " + "x" * 10_001
CLI_REPLY = "Ms Ravensholt brings a spare inhaler"
CLI_NOTE = "Father Bartholomew prefers evening calls"
CLI_COMMENT = "Coach Wilhelmina-Otis confirmed pickup"
CLI_TIME = "Phoned Dr Fairweather-Ngata about the inhaler"
SEARCHED = "Zebulon inhaler"
# Whole values and a word of each (a log line that cut a body short still carries one).
MARKERS = (
    NAME, EMAIL, PHONE, PHONE_RAW, "014-7733", "4417@", ASKED, ASKED_AGAIN, "Zebulon", "5521", "Marguerite", REPLY,
    "Okonkwo", NOTE, "Philippa", STATUS_COMMENT, "Thistlewood", TIME_NOTE, "Vantongeren", "Kestrelwick", CLI_REPLY,
    "Ravensholt", CLI_NOTE, "Bartholomew", CLI_COMMENT, "Wilhelmina", CLI_TIME, "Fairweather",
)  # fmt: skip


class Run:
    """`intake ...` as an operator runs it: a command's answer on stdout is for the operator, so only what it logs
    (stderr) is kept, and all of a worker's output."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log

    def __call__(self, *args: str) -> str:
        done = intake(self.config, *args)
        assert done.returncode == 0, (args[:2], done.stderr[-2000:])
        with self.log.open("a") as f:
            f.write(done.stderr + (done.stdout if args[0] == "worker" else ""))
        return done.stdout


async def _request(desk: StaffGateway, message: str) -> str:
    payload = form(name=NAME, email=EMAIL, phone=PHONE_RAW, message=message)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as http:
        resp = await http.post(desk.base + "/hooks/webform", json=payload, headers=headers)
        assert resp.status == 202
        return str((await resp.json())["request_id"])


async def _desk_pages(desk: StaffGateway) -> None:
    """Every action of the desk's pages on the family's first request, a refusal, the searches and the export."""
    ana = desk.browser()
    assert (await sign_in(ana, desk.base, "ana")).status == 303
    ticket = f"{desk.base}/desk/tickets/1"
    token = form_token(await (await ana.get(ticket)).text())
    for action, fields in (
        ("reply", {"body": REPLY}), ("reply", {"body": TOO_LONG}), ("note", {"body": NOTE}),
        ("status", {"status": "in_progress", "comment": STATUS_COMMENT}),
        ("fields", {"priority": "high", "category": "", "queue": "it"}), ("assign", {"assignee": "abby"}),
        ("time", {"minutes": "15", "work_type": "training", "note": TIME_NOTE}), ("incident", {"incident": "1"}),
    ):  # fmt: skip
        resp = await ana.post(f"{ticket}/{action}", data={**fields, "csrf": token}, allow_redirects=False)
        assert resp.status == 303, action
    merged = await ana.post(f"{desk.base}/desk/tickets/2/merge", data={"into": "1", "csrf": token})
    assert "was merged into request #1" in await merged.text()
    for query in (f"q={quote(SEARCHED)}", f"q={quote(EMAIL)}&status=any", f"q={quote(PHONE)}&status=any",
                  "family=1&status=any"):  # fmt: skip
        assert (await ana.get(f"{desk.base}/desk?{query}")).status == 200
    export = await ana.get(f"{desk.base}/desk/export.csv?q={quote(SEARCHED)}&status=any")
    assert export.status == 200 and REPLY not in await export.text()  # the request is listed, not its replies
    assert (await ana.get(ticket)).status == 200


async def test_no_desk_action_search_or_export_logs_the_familys_or_the_staffs_words(
    captured: io.StringIO, desk: StaffGateway, tmp_path: Path
) -> None:
    run = Run(desk.config, tmp_path / "processes.log")
    first = await _request(desk, ASKED)
    await _request(desk, ASKED_AGAIN)
    run("worker", "--burst")
    run("incident", "open", "--title", "Inhaler recall", "--keyword", "recall")
    await _desk_pages(desk)
    for command in (
        ("reply", "1", "--body", CLI_REPLY, "--actor", "ana"), ("note", "1", "--body", CLI_NOTE, "--actor", "ana"),
        ("update", "1", "--status", "waiting", "--comment", CLI_COMMENT, "--actor", "ana"),
        ("set", "1", "--priority", "normal", "--queue", "transportation", "--actor", "ana"),
        ("assign", "1", "ana", "--actor", "ana"), ("assign", "1", "--nobody", "--actor", "ana"),
        ("link", "1", "--none", "--actor", "ana"), ("link", "1", "--incident", "1", "--actor", "ana"),
        ("log-time", "1", "--minutes", "20", "--type", "training", "--note", CLI_TIME, "--actor", "ana"),
        ("list", "--search", SEARCHED), ("list", "--requester", EMAIL, "--csv"), ("list", "--requester", PHONE),
        ("show", "1"),
    ):  # fmt: skip
        run("tickets", *command)
    run("worker", "--burst")
    run("worker", "--burst")

    r = sync_client(desk.settings)
    told = [json.loads(e).get("text", "") for e in r.lrange(keys.timeline(first), 0, -1)]
    r.close()
    assert any(REPLY in t for t in told) and any(CLI_REPLY in t for t in told), "the replies were never told"
    logs = captured.getvalue() + run.log.read_text()
    for expected in ("staff signed in", "ticket created"):
        assert expected in logs, f"the run did not log {expected!r}: the test would prove nothing"
    leaked = [m for m in MARKERS if m in logs]
    assert leaked == [], f"log lines carry {[m[:14] + '...' for m in leaked]}"
