"""Signing in with the directory's password, against a real slapd: roles and departments from groups, who
may not sign in, an empty password, and a directory that does not answer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway.tickets import TicketStore
from tests.directory_fixtures import ldap_settings
from tests.gateway.web.staff.conftest import LOCKOUT, MovingClock, StaffGateway, staff_config, start, stop
from tests.support.gateway import intake
from tests.support.redis_server import RedisServer
from tests.support.slapd import BASE_DN, Slapd, person
from tests.support.staff import sign_in

GROUPS = f"ou=groups,{BASE_DN}"
ADMINS = f"cn=helpdesk-admins,{GROUPS}"
DESK = f"cn=helpdesk,{GROUPS}"
TRANSPORT = f"cn=transportation-office,{GROUPS}"
TEACHERS = f"cn=teachers,{GROUPS}"
PASSWORDS = {"mrivera": "maria-directory-pw-1", "jchen": "john-directory-pw-2", "pkhan": "priya-directory-pw-3",
             "lwu": "lin-directory-pw-4"}  # fmt: skip


def _dn(uid: str) -> str:
    return f"uid={uid},ou=people,{BASE_DN}"


def _group(dn: str, *members: str) -> str:
    cn = dn.split(",", 1)[0].split("=", 1)[1]
    lines = [f"dn: {dn}", "objectClass: groupOfNames", f"cn: {cn}", *(f"member: {_dn(m)}" for m in members)]
    return "\n".join(lines) + "\n\n"


SEED = (
    person("mrivera", cn="Maria Rivera", sn="Rivera", displayName="Maria Rivera", mail="Maria.Rivera@district.test",
           userPassword=PASSWORDS["mrivera"])
    + person("jchen", cn="John Chen", sn="Chen", displayName="John Chen", mail="j.chen@district.test",
             userPassword=PASSWORDS["jchen"])
    + person("pkhan", cn="Priya Khan", sn="Khan", displayName="Priya Khan", userPassword=PASSWORDS["pkhan"])
    + person("lwu", cn="Lin Wu", sn="Wu", displayName="Lin Wu", userPassword=PASSWORDS["lwu"])
    + f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n\n"
    + _group(ADMINS, "mrivera")
    + _group(DESK, "mrivera", "jchen")
    + _group(TRANSPORT, "jchen")
    + _group(TEACHERS, "pkhan", "lwu")
)  # fmt: skip


@pytest.fixture
def directory() -> Iterator[Slapd]:
    server = Slapd(SEED)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
async def gw(
    tmp_path: Path, redis_server: RedisServer, directory: Slapd, clock: MovingClock
) -> AsyncIterator[StaffGateway]:
    signin = {
        "ldap": {
            "enabled": True,
            # Spelled as an operator might copy it from a directory tool: case and spaces differ from the server's.
            "roles": {"CN=HelpDesk-Admins, OU=Groups, DC=district, DC=test": "admin", DESK: "agent"},
            "departments": {TRANSPORT: ["transportation"], ADMINS: ["it"]},
        }
    }
    config = staff_config(tmp_path, redis_server.url, identity={"ldap": ldap_settings(directory)}, signin=signin)
    started = await start(config, clock)
    yield started
    await stop(started)


def account(gw: StaffGateway, username: str) -> tuple[str, str, str | None, str, tuple[str, ...]]:
    store = TicketStore.from_settings(gw.settings)
    try:
        u = store.users.get(username)
        return u.source, u.name, u.email, u.role, u.departments
    finally:
        store.close()


async def test_directory_staff_sign_in_with_their_directory_password_and_get_the_role_of_their_groups(
    gw: StaffGateway,
) -> None:
    maria, john = gw.browser(), gw.browser()
    assert (await sign_in(maria, gw.base, "mrivera", PASSWORDS["mrivera"])).status == 303
    assert (await sign_in(john, gw.base, "JChen", PASSWORDS["jchen"])).status == 303
    me = await (await maria.get(gw.base + "/staff/api/me")).json()
    assert (me["role"], me["departments"], me["source"]) == ("admin", ["it"], "ldap")  # the highest group wins
    me = await (await john.get(gw.base + "/staff/api/me")).json()
    assert (me["name"], me["role"], me["departments"]) == ("John Chen", "agent", ["transportation"])
    # An account here, kept up to date from the directory, so the desk can list them and the audit log name them.
    assert account(gw, "mrivera") == ("ldap", "Maria Rivera", "maria.rivera@district.test", "admin", ("it",))


async def test_a_wrong_or_empty_directory_password_is_refused(gw: StaffGateway) -> None:
    http = gw.browser()
    assert (await sign_in(http, gw.base, "mrivera", PASSWORDS["jchen"])).status == 401
    # LDAP takes an empty password as an anonymous bind, which succeeds: it must never sign anyone in.
    assert (await sign_in(http, gw.base, "mrivera", "")).status == 401
    assert (await sign_in(http, gw.base, "nobody-here", "whatever")).status == 401
    assert (await http.get(gw.base + "/staff/api/me")).status == 401


async def test_someone_in_no_help_desk_group_signs_in_only_with_an_account_added_for_them(gw: StaffGateway) -> None:
    priya = gw.browser()
    refused = await sign_in(priya, gw.base, "pkhan", PASSWORDS["pkhan"])
    assert refused.status == 403
    assert "not in a group that may use the help desk" in await refused.text()

    added = intake(gw.config, "users", "add", "lwu", "--name", "Lin Wu", "--ldap", "--role", "supervisor",
                   "--department", "hr")  # fmt: skip
    assert added.returncode == 0, added.stderr
    lin = gw.browser()
    assert (await sign_in(lin, gw.base, "lwu", PASSWORDS["lwu"])).status == 303
    me = await (await lin.get(gw.base + "/staff/api/me")).json()
    assert (me["role"], me["departments"]) == ("supervisor", ["hr"])


async def test_a_directory_account_switched_off_here_cannot_sign_in(gw: StaffGateway) -> None:
    http = gw.browser()
    assert (await sign_in(http, gw.base, "jchen", PASSWORDS["jchen"])).status == 303
    off = intake(gw.config, "users", "disable", "jchen")
    assert off.returncode == 0, off.stderr
    assert (await http.get(gw.base + "/staff/api/me")).status == 401
    assert (await sign_in(gw.browser(), gw.base, "jchen", PASSWORDS["jchen"])).status == 403


async def test_a_directory_that_does_not_answer_is_said_so_and_counts_against_nobody(
    gw: StaffGateway, directory: Slapd
) -> None:
    directory.stop()
    http = gw.browser()
    for _ in range(LOCKOUT["account_attempts"] + 1):
        resp = await sign_in(http, gw.base, "mrivera", PASSWORDS["mrivera"])
        assert resp.status == 503
    assert "directory is not answering" in await resp.text()
    directory.start()
    assert (await sign_in(http, gw.base, "mrivera", PASSWORDS["mrivera"])).status == 303
