"""Signing in over real HTTP: wrong passwords, lockout with backoff (per account, per client, across web
processes), disabled accounts, the sign-in form's own token, the audit trail, and the users page."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from gateway.tickets import AuditEntry, TicketStore
from tests.gateway.web.staff.conftest import LOCKOUT, MovingClock, StaffGateway, start, stop
from tests.support.gateway import intake
from tests.support.staff import PASSWORD, browser_session, form_token, session_token, sign_in


def audit_log(gw: StaffGateway) -> list[AuditEntry]:
    store = TicketStore.from_settings(gw.settings)
    try:
        return list(store.audit.entries())
    finally:
        store.close()


async def test_a_wrong_password_is_401_with_words_and_is_audited(staff: StaffGateway) -> None:
    http = staff.browser()
    resp = await sign_in(http, staff.base, "ana", "not the password")
    assert resp.status == 401
    assert "The username or password is not right." in await resp.text()
    assert (await http.get(staff.base + "/staff/api/me")).status == 401
    unknown = await sign_in(http, staff.base, "nobody", "not the password")
    assert unknown.status == 401
    entries = [(e.actor, e.action, e.details["reason"]) for e in audit_log(staff)]
    assert entries == [("-", "signin_failed", "wrong"), ("ana", "signin_failed", "wrong")]


async def test_a_good_sign_in_is_audited_with_its_client(staff: StaffGateway) -> None:
    await sign_in(staff.browser(), staff.base, "Ana ")  # typed with a capital and a space: the same account
    [entry] = audit_log(staff)
    assert (entry.actor, entry.action, entry.details) == ("ana", "signin", {"source": "local", "client": "127.0.0.1"})


async def test_failures_lock_the_account_with_backoff_and_the_right_password_waits_too(
    staff: StaffGateway, clock: MovingClock
) -> None:
    http = staff.browser()
    attempts = LOCKOUT["account_attempts"]
    statuses = [(await sign_in(http, staff.base, "abby", f"guess {n}")).status for n in range(attempts)]
    assert statuses == [401] * (attempts - 1) + [429]
    locked = await sign_in(http, staff.base, "abby")  # the right password: refused unchecked while locked
    assert locked.status == 429
    assert locked.headers["Retry-After"] == "60"
    assert "Wait a minute before you try again." in await locked.text()

    clock.advance(61)
    for n in range(attempts):
        last = await sign_in(http, staff.base, "abby", f"again {n}")
    assert last.status == 429 and last.headers["Retry-After"] == "120"  # the second lock lasts twice as long
    clock.advance(121)
    assert (await sign_in(http, staff.base, "abby")).status == 303
    # A good sign-in ends the streak: the next lock starts from the first length again.
    other = browser_session()
    try:
        for n in range(attempts):
            last = await sign_in(other, staff.base, "abby", f"later {n}")
        assert last.headers["Retry-After"] == "60"
    finally:
        await other.close()
    # Each lock is audited when it starts (three of them), with how long it lasts; the tries it refused are not.
    locks = [e.details["seconds"] for e in audit_log(staff) if e.action == "signin_locked"]
    assert locks == [60, 120, 60]
    assert [e.action for e in audit_log(staff)].count("signin") == 1


async def test_a_lock_holds_in_every_web_process(
    staff: StaffGateway, staff_config_path: Path, clock: MovingClock
) -> None:
    other = await start(staff_config_path, clock)
    try:
        http = staff.browser()
        for n in range(LOCKOUT["account_attempts"]):
            await sign_in(http, staff.base, "sam", f"guess {n}")
        elsewhere = other.browser()
        assert (await sign_in(elsewhere, other.base, "sam")).status == 429
    finally:
        await stop(other)


async def test_one_client_trying_many_accounts_is_locked_whoever_they_try(staff: StaffGateway) -> None:
    http = staff.browser()
    names = ["ana", "sam", "abby", *(f"nobody{n}" for n in range(LOCKOUT["client_attempts"] - 3))]
    assert len(names) == LOCKOUT["client_attempts"]
    statuses = [(await sign_in(http, staff.base, name, "spray-password-1")).status for name in names]
    assert statuses[:-1] == [401] * (len(names) - 1) and statuses[-1] == 429
    # Every account, known or not, answers the same while the client is locked.
    assert (await sign_in(http, staff.base, "ana")).status == 429
    assert (await sign_in(http, staff.base, "somebody", "x")).status == 429


async def test_an_unknown_name_locks_like_a_real_one(staff: StaffGateway) -> None:
    real, made_up = staff.browser(), browser_session()
    try:
        a = [(await sign_in(real, staff.base, "ana", f"g{n}")).status for n in range(LOCKOUT["account_attempts"])]
        b = [(await sign_in(made_up, staff.base, "anna", f"g{n}")).status for n in range(LOCKOUT["account_attempts"])]
        assert a == b
    finally:
        await made_up.close()


async def test_the_sign_in_form_refuses_a_post_without_its_token_or_cookie(staff: StaffGateway) -> None:
    data = {"username": "ana", "password": PASSWORD}
    async with aiohttp.ClientSession() as bare:  # no cookie at all: as a cross-site form would arrive
        page = await bare.get(staff.base + "/signin")
        token = form_token(await page.text())
        no_cookie = await bare.post(staff.base + "/signin", data={**data, "csrf": token}, allow_redirects=False)
        assert no_cookie.status == 403
        assert "needs cookies" in await no_cookie.text()
    http = staff.browser()
    await http.get(staff.base + "/signin")
    forged = await http.post(staff.base + "/signin", data={**data, "csrf": "AAAA.1.AAAA"}, allow_redirects=False)
    assert forged.status == 403
    assert "intake_staff" not in forged.cookies
    assert (await http.get(staff.base + "/staff/api/me")).status == 401


async def test_a_disabled_account_is_told_so_only_with_its_right_password(staff: StaffGateway) -> None:
    done = intake(staff.config, "users", "disable", "abby")
    assert done.returncode == 0, done.stderr
    http = staff.browser()
    wrong = await sign_in(http, staff.base, "abby", "not it")
    assert wrong.status == 401
    right = await sign_in(http, staff.base, "abby")
    assert right.status == 403
    assert "This account is switched off." in await right.text()


async def test_switching_someone_off_on_the_users_page_ends_their_sessions_at_once(staff: StaffGateway) -> None:
    admin, agent = staff.browser(), staff.browser()
    await sign_in(admin, staff.base, "ana")
    await sign_in(agent, staff.base, "abby")
    assert (await agent.get(staff.base + "/staff/api/me")).status == 200
    token = await session_token(admin, staff.base)
    off = await admin.post(staff.base + "/staff/users/abby/disable", data={"csrf": token}, allow_redirects=False)
    assert off.status == 303
    assert (await agent.get(staff.base + "/staff/api/me")).status == 401
    page = await admin.get(staff.base + "/staff/users")
    html = await page.text()
    assert "abby is switched off and signed out everywhere." in html
    assert "Switch on abby" in html
    [entry] = [e for e in audit_log(staff) if e.action == "user_disable"]
    assert (entry.actor, entry.details) == ("ana", {"user": "abby"})


async def test_the_admin_adds_a_user_who_then_signs_in(staff: StaffGateway) -> None:
    admin = staff.browser()
    await sign_in(admin, staff.base, "ana")
    token = await session_token(admin, staff.base)
    form = {"csrf": token, "username": "Tran.Le", "name": "Tran Le", "email": "tran.le@district.test",
            "role": "agent", "departments": "transportation, it", "password": "a long enough password"}  # fmt: skip
    short = await admin.post(staff.base + "/staff/users", data={**form, "password": "short"}, allow_redirects=False)
    assert short.status == 422
    assert "The password is too short: use at least 12 characters." in await short.text()
    added = await admin.post(staff.base + "/staff/users", data=form, allow_redirects=False)
    assert added.status == 303
    assert "tran.le was added." in await (await admin.get(staff.base + "/staff/users")).text()
    again = await admin.post(staff.base + "/staff/users", data=form, allow_redirects=False)
    assert again.status == 422
    assert "There is already a user with that username or email address." in await again.text()

    newcomer = staff.browser()
    assert (await sign_in(newcomer, staff.base, "tran.le", "a long enough password")).status == 303
    me = await (await newcomer.get(staff.base + "/staff/api/me")).json()
    assert (me["role"], me["departments"]) == ("agent", ["it", "transportation"])
    [entry] = [e for e in audit_log(staff) if e.action == "user_add"]
    assert entry.actor == "ana" and entry.details["user"] == "tran.le"


async def test_the_last_admin_cannot_be_demoted_and_a_role_change_signs_the_person_out(staff: StaffGateway) -> None:
    admin, supervisor = staff.browser(), staff.browser()
    await sign_in(admin, staff.base, "ana")
    await sign_in(supervisor, staff.base, "sam")
    token = await session_token(admin, staff.base)
    demote = await admin.post(staff.base + "/staff/users/ana/role", data={"csrf": token, "role": "agent"})
    assert "This is the last active administrator" in await demote.text()
    promote = await admin.post(staff.base + "/staff/users/sam/role", data={"csrf": token, "role": "admin"})
    assert "sam is now: Administrator." in await promote.text()
    assert (await supervisor.get(staff.base + "/staff/api/me")).status == 401
    await sign_in(supervisor, staff.base, "sam")
    assert (await (await supervisor.get(staff.base + "/staff/api/me")).json())["role"] == "admin"


async def test_a_hash_made_with_older_parameters_is_made_again_at_the_next_good_sign_in(staff: StaffGateway) -> None:
    from argon2 import PasswordHasher

    store = TicketStore.from_settings(staff.settings)
    try:
        store.users.add("old.timer", "Old Timer", "agent", password_hash=PasswordHasher().hash(PASSWORD))
        assert "m=65536" in (store.users.get("old.timer").password_hash or "")
        assert (await sign_in(staff.browser(), staff.base, "old.timer")).status == 303
        stored = store.users.get("old.timer").password_hash or ""
        assert "m=19456,t=2,p=1" in stored
    finally:
        store.close()
    assert (await sign_in(staff.browser(), staff.base, "old.timer")).status == 303
