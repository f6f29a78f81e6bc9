"""`intake users` and `intake audit list`, run as an operator runs them: a new process on the real store."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from gateway.tickets import NewTicket, TicketStore
from tests.support.gateway import REPO, intake, settings_from, write_config

PASSWORD = "a long and good password"


def run(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`intake` with standard input (passwords), as a script would feed it."""
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "--config", str(config), *args],
        capture_output=True, text=True, timeout=60, cwd=REPO, input=stdin,
    )  # fmt: skip


def config(tmp_path: Path, **overrides: object) -> Path:
    # No Redis is needed to manage accounts; a change that would end sessions says it could not.
    return write_config(tmp_path, "redis://127.0.0.1:1/0", timezone="America/Chicago", **overrides)


def test_users_are_added_listed_switched_off_and_on(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    added = run(cfg, "users", "add", "MRivera", "--name", "Maria Rivera", "--email", "Maria@District.test",
                "--role", "supervisor", "--department", "it", "--department", "transportation", "--password-stdin",
                stdin=PASSWORD + "\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added mrivera (supervisor, it, transportation)"
    assert run(cfg, "users", "add", "jchen", "--name", "John Chen", "--ldap").returncode == 0

    listed = json.loads(run(cfg, "users", "list", "--json").stdout)
    assert [(u["username"], u["role"], u["source"], u["departments"], u["email"]) for u in listed] == [
        ("jchen", "agent", "ldap", [], None),
        ("mrivera", "supervisor", "local", ["it", "transportation"], "maria@district.test"),
    ]
    off = run(cfg, "users", "disable", "mrivera")
    assert off.returncode == 0 and "mrivera is switched off" in off.stdout
    assert "sessions were not ended" in off.stderr  # no Redis here: the operator is told, the change is made
    assert json.loads(run(cfg, "users", "list", "--json").stdout)[1]["disabled"] is True
    assert run(cfg, "users", "enable", "mrivera").returncode == 0
    text = run(cfg, "users", "list").stdout
    assert "mrivera" in text and "active" in text and "2 user(s)" in text


def test_bad_accounts_are_refused_with_the_reason(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    short = run(cfg, "users", "add", "ana", "--name", "Ana", "--password-stdin", stdin="short\n")
    assert short.returncode == 1
    assert "at least 12 characters" in short.stderr
    bad_role = run(cfg, "users", "add", "ana", "--name", "Ana", "--role", "boss", "--password-stdin", stdin=PASSWORD)
    assert bad_role.returncode == 2
    assert "boss" in bad_role.stderr
    bad_name = run(cfg, "users", "add", "ana smith", "--name", "Ana", "--password-stdin", stdin=PASSWORD)
    assert bad_name.returncode == 1 and "username" in bad_name.stderr
    assert run(cfg, "users", "add", "ana", "--name", "Ana", "--password-stdin", stdin=PASSWORD).returncode == 0
    twice = run(cfg, "users", "add", "ana", "--name", "Ana", "--password-stdin", stdin=PASSWORD)
    assert twice.returncode == 1 and "already exists" in twice.stderr
    unknown = run(cfg, "users", "disable", "nobody")
    assert unknown.returncode == 1 and "no user 'nobody'" in unknown.stderr


def test_the_last_admin_keeps_the_role_and_a_directory_account_has_no_password_here(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    run(cfg, "users", "add", "boss", "--name", "Boss", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    demoted = run(cfg, "users", "update", "boss", "--role", "agent")
    assert demoted.returncode == 1 and "last active admin" in demoted.stderr
    assert run(cfg, "users", "disable", "boss").returncode == 1
    run(cfg, "users", "add", "lwu", "--name", "Lin Wu", "--ldap")
    passwd = run(cfg, "users", "passwd", "lwu", "--password-stdin", stdin=PASSWORD)
    assert passwd.returncode == 1 and "signs in with the directory" in passwd.stderr
    moved = run(cfg, "users", "update", "lwu", "--department", "hr", "--department", "it")
    assert moved.returncode == 0 and "lwu is agent; departments: hr, it" in moved.stdout


def test_audit_list_shows_who_did_what_to_which_ticket_in_district_time(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    run(cfg, "users", "add", "ana", "--name", "Ana", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    run(cfg, "users", "passwd", "ana", "--password-stdin", stdin=PASSWORD + " two")
    store = TicketStore.from_settings(settings_from(cfg))
    try:
        for n in (1, 2):
            new = NewTicket(conversation=f"c{n}", subject="Bus", body="The bus did not come.", channel="sms")
            store.create_ticket(new, f"request-{n}")
        store.reply(1, "The driver has been told.", "ana")
        store.audit.record("ana", "download", 2, {"file": 7})
    finally:
        store.close()

    one = run(cfg, "audit", "list", "--ticket", "1")
    assert one.returncode == 0, one.stderr
    lines = one.stdout.strip().splitlines()
    assert len(lines) == 2 and "ana" in lines[0] and "reply" in lines[0] and "#1" in lines[0]
    assert lines[-1] == "entries 1-1 of 1"
    assert "-06:00" in lines[0] or "-05:00" in lines[0]  # Chicago, not UTC

    rows = list(csv.DictReader(io.StringIO(run(cfg, "audit", "list", "--csv").stdout)))
    assert [(r["actor"], r["action"], r["ticket"]) for r in rows] == [
        ("ana", "download", "2"), ("ana", "reply", "1"), ("cli:" + _me(), "user_passwd", ""),
        ("cli:" + _me(), "user_add", ""),
    ]  # fmt: skip
    assert json.loads(rows[0]["details"]) == {"file": 7}
    assert PASSWORD not in run(cfg, "audit", "list", "--csv").stdout
    actor = run(cfg, "audit", "list", "--actor", "ana", "--action", "download")
    assert actor.stdout.strip().splitlines()[-1] == "entries 1-1 of 1"


def _me() -> str:
    import getpass

    return getpass.getuser()


def test_intake_audit_list_names_a_ticket_that_is_not_a_number(tmp_path: Path) -> None:
    done = intake(config(tmp_path), "audit", "list", "--ticket", "twelve")
    assert done.returncode == 1
    assert "no ticket twelve" in done.stderr
