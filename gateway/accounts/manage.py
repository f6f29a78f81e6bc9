"""Changing staff accounts, the same way from `intake users` and from the admin's users page: each change is
checked, made, and written to the audit log with who made it. Ending the person's sessions is the caller's
(it holds the Redis client): every change here but adding one calls for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gateway.accounts import passwords
from gateway.accounts.roles import RANK, normalize_username
from gateway.tickets import TicketStore, UnknownUser, User, UserExists

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


class AccountProblem(ValueError):
    """A change that cannot be made. `key` names it in the staff words; the message says it for a terminal."""

    def __init__(self, key: str, message: str, **values: object) -> None:
        super().__init__(message)
        self.key = key
        self.values = values


def departments_from(text: str | Iterable[str]) -> tuple[str, ...]:
    """ "it, transportation" or ["it", "hr"] -> ("hr", "it") (lower case, no repeats)."""
    items = re.split(r"[,\s]+", text) if isinstance(text, str) else list(text)
    return tuple(sorted({d.strip().lower() for d in items if d.strip()}))


def _get(store: TicketStore, username: str) -> User:
    try:
        return store.users.get(username)
    except UnknownUser:
        raise AccountProblem("err_unknown_user", f"no user {username!r}", username=username) from None


def add_user(
    store: TicketStore, actor: str, username: str, name: str, role: str, *, email: str | None = None,
    departments: Iterable[str] = (), password: str | None = None, directory: bool = False, min_length: int = 12,
) -> User:  # fmt: skip
    """A local account with a password, or (`directory`) one who signs in with the directory's password."""
    username = normalize_username(username)
    if not _USERNAME.fullmatch(username):
        raise AccountProblem("err_username", "a username is letters, digits, dots, dashes, @ or underscores")
    if not name.strip():
        raise AccountProblem("err_name", "give the person's name (--name)")
    if role not in RANK:
        raise AccountProblem("err_role", f"role {role!r}: expected agent, supervisor or admin")
    password_hash = None
    if not directory:
        try:
            passwords.check_new(password or "", min_length)
        except passwords.WeakPassword as exc:
            raise AccountProblem("err_password", str(exc), length=min_length) from None
        password_hash = passwords.hash_password(password or "")
    try:
        user = store.users.add(username, name.strip(), role, email=email or None, departments=departments,
                               password_hash=password_hash, source="ldap" if directory else "local")  # fmt: skip
    except UserExists:
        raise AccountProblem("err_exists", "a user with that username or email already exists") from None
    store.audit.record(actor, "user_add", None, {
        "user": username, "role": role, "departments": list(user.departments), "source": user.source,
    })  # fmt: skip
    return user


def _active_admins(store: TicketStore) -> list[str]:
    return [u.username for u in store.users.all(include_disabled=False) if u.role == "admin"]


def set_role(
    store: TicketStore, actor: str, username: str, role: str | None = None, departments: Iterable[str] | None = None
) -> User:
    """A new role and/or departments. The last active admin keeps the role: someone must manage users."""
    user = _get(store, normalize_username(username))
    if role is not None and role not in RANK:
        raise AccountProblem("err_role", f"role {role!r}: expected agent, supervisor or admin")
    if role is not None and role != "admin" and _active_admins(store) == [user.username]:
        raise AccountProblem("err_last_admin", "this is the last active admin: make someone else admin first")
    depts = None if departments is None else departments_from(departments)
    updated = store.users.update(user.username, role=role, departments=depts)
    store.audit.record(actor, "user_role", None, {
        "user": user.username, "role": [user.role, updated.role],
        "departments": [list(user.departments), list(updated.departments)],
    })  # fmt: skip
    return updated


def set_disabled(store: TicketStore, actor: str, username: str, disabled: bool) -> User:
    """Switch an account off (it can sign in no more) or on again."""
    user = _get(store, normalize_username(username))
    if disabled and not user.disabled and _active_admins(store) == [user.username]:
        raise AccountProblem("err_last_admin", "this is the last active admin: make someone else admin first")
    updated = store.users.update(user.username, disabled=disabled)
    store.audit.record(actor, "user_disable" if disabled else "user_enable", None, {"user": user.username})
    return updated


def set_password(store: TicketStore, actor: str, username: str, password: str, min_length: int = 12) -> User:
    user = _get(store, normalize_username(username))
    if user.source != "local":
        raise AccountProblem(
            "err_source", f"{user.username} signs in with the directory: change it there", username=user.username
        )
    try:
        passwords.check_new(password, min_length)
    except passwords.WeakPassword as exc:
        raise AccountProblem("err_password", str(exc), length=min_length) from None
    updated = store.users.update(user.username, password_hash=passwords.hash_password(password))
    store.audit.record(actor, "user_passwd", None, {"user": user.username})
    return updated
