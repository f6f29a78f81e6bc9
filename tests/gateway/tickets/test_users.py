"""Staff accounts: the records sign-in is built on, on both engines."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from gateway.tickets import TicketStore, UnknownUser, UserExists


def test_an_account_keeps_its_role_departments_and_hash(store: TicketStore) -> None:
    made = store.users.add("maria.l", "María López", "agent", email="Maria.L@District.example.org",
                           departments=["transportation", "it"], password_hash="$argon2id$v=19$...")  # fmt: skip
    assert (made.role, made.departments, made.email, made.source) == (
        "agent",
        ("it", "transportation"),
        "maria.l@district.example.org",
        "local",
    )
    assert store.users.by_email("MARIA.L@district.example.org").username == "maria.l"
    assert "argon2" not in repr(made)  # a hash never lands in a log through a repr
    store.users.update("maria.l", role="supervisor", departments=["hr"], disabled=True)
    changed = store.users.get("maria.l")
    assert (changed.role, changed.departments, changed.disabled) == ("supervisor", ("hr",), True)


def test_names_and_emails_are_unique_and_roles_are_known(store: TicketStore) -> None:
    store.users.add("ben", "Ben Okafor", "admin", email="ben@district.example.org", source="ldap")
    with pytest.raises(UserExists):
        store.users.add("ben", "Another Ben", "agent")
    with pytest.raises(UserExists):
        store.users.add("ben2", "Ben Again", "agent", email="BEN@district.example.org")
    with pytest.raises(ValueError, match="agent, supervisor, admin"):
        store.users.add("x", "X", "owner")
    with pytest.raises(UnknownUser):
        store.users.get("nobody")
    store.users.add("amy", "Amy", "agent")
    assert [u.username for u in store.users.all()] == ["amy", "ben"]
    store.users.update("amy", disabled=True)
    assert [u.username for u in store.users.all(include_disabled=False)] == ["ben"]


def test_failed_sign_ins_from_many_web_processes_are_all_counted(store_url: str) -> None:
    first = TicketStore.open(store_url)
    first.users.add("maria", "María", "agent")
    stores = [TicketStore.open(store_url) for _ in range(4)]
    barrier = threading.Barrier(len(stores))

    def fail(s: TicketStore) -> None:
        barrier.wait()
        for _ in range(5):
            s.users.record_failed_login("maria")

    threads = [threading.Thread(target=fail, args=(s,)) for s in stores]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert first.users.get("maria").failed_logins == 20
    until = datetime.now(UTC) + timedelta(minutes=15)
    assert first.users.record_failed_login("maria", lock_until=until).locked_until == until
    cleared = first.users.record_login("maria")
    assert (cleared.failed_logins, cleared.locked_until) == (0, None) and cleared.last_login_at is not None
    for s in [first, *stores]:
        s.close()
