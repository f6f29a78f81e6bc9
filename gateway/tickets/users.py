"""Staff accounts for the desk: who may sign in, their role and departments, and their failed sign-ins.

This keeps the records only. Hashing passwords, checking them, and the lockout policy (how many failures,
how long a lock lasts) belong to the sign-in code; the counters here change atomically, in the database,
so two web processes counting the same person's failures never lose one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gateway.tickets import schema as t
from gateway.tickets.base import StoreBase, new_id, now
from gateway.tickets.records import ROLES, Role, User


class UnknownUser(LookupError):
    pass


class UserExists(ValueError):
    pass


def _to_user(row: sa.Row[Any], departments: tuple[str, ...]) -> User:
    m = row._mapping
    return User(
        id=m["id"], username=m["username"], name=m["name"], email=m["email"], role=m["role"],
        departments=departments, password_hash=m["password_hash"], source=m["source"],
        disabled=bool(m["disabled"]), failed_logins=m["failed_logins"],
        last_failed_login_at=m["last_failed_login_at"], locked_until=m["locked_until"],
        last_login_at=m["last_login_at"], created_at=m["created_at"],
    )  # fmt: skip


def _check_role(role: str) -> Role:
    if role not in ROLES:
        raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    return role


class UserRepository(StoreBase):
    def add(
        self, username: str, name: str, role: str, *, email: str | None = None, departments: Iterable[str] = (),
        password_hash: str | None = None, source: str = "local",
    ) -> User:  # fmt: skip
        """A new account (`source`: `local`, or `ldap` for someone who signs in against the directory)."""
        _check_role(role)
        at = now()
        u = t.users.c
        with self._write() as conn:
            clash = sa.or_(u.username == username, u.email == email.lower()) if email else u.username == username
            if conn.execute(sa.select(u.id).where(clash)).first() is not None:
                raise UserExists(f"a user {username!r} or with that email already exists")
            inserted = conn.execute(t.users.insert().values(
                username=username, name=name, email=email.lower() if email else None, role=role,
                password_hash=password_hash, source=source, created_at=at, updated_at=at))  # fmt: skip
            self._set_departments(conn, new_id(inserted), departments)
        return self.get(username)

    def get(self, username: str) -> User:
        return self._one(t.users.c.username == username, username)

    def by_email(self, email: str) -> User:
        return self._one(t.users.c.email == email.lower(), email)

    def all(self, *, include_disabled: bool = True) -> list[User]:
        stmt = sa.select(t.users).order_by(t.users.c.username)
        if not include_disabled:
            stmt = stmt.where(t.users.c.disabled.is_(False))
        with self._read() as conn:
            rows = list(conn.execute(stmt))
            departments = self._departments(conn, [r.id for r in rows])
        return [_to_user(r, departments.get(r.id, ())) for r in rows]

    def update(
        self, username: str, *, name: str | None = None, email: str | None = None, role: str | None = None,
        departments: Iterable[str] | None = None, password_hash: str | None = None, disabled: bool | None = None,
    ) -> User:  # fmt: skip
        values: dict[str, Any] = {"updated_at": now()}
        for key, value in (("name", name), ("password_hash", password_hash), ("disabled", disabled)):
            if value is not None:
                values[key] = value
        if email is not None:
            values["email"] = email.lower()
        if role is not None:
            values["role"] = _check_role(role)
        with self._write() as conn:
            uid = self._id(conn, username)
            conn.execute(t.users.update().where(t.users.c.id == uid).values(values))
            if departments is not None:
                conn.execute(t.user_departments.delete().where(t.user_departments.c.user_id == uid))
                self._set_departments(conn, uid, departments)
        return self.get(username)

    def record_failed_login(
        self, username: str, at: datetime | None = None, *, lock_until: datetime | None = None
    ) -> User:
        """Count one failed sign-in (atomically) and, when the caller's policy says so, lock until a time."""
        u = t.users.c
        values: dict[str, Any] = {"failed_logins": u.failed_logins + 1, "last_failed_login_at": at or now()}
        if lock_until is not None:
            values["locked_until"] = lock_until
        with self._write() as conn:
            conn.execute(t.users.update().where(u.id == self._id(conn, username)).values(values))
        return self.get(username)

    def record_login(self, username: str, at: datetime | None = None) -> User:
        """A successful sign-in: the failure count and any lock are cleared."""
        u = t.users.c
        with self._write() as conn:
            conn.execute(t.users.update().where(u.id == self._id(conn, username)).values(
                failed_logins=0, locked_until=None, last_login_at=at or now()))  # fmt: skip
        return self.get(username)

    def _one(self, where: sa.ColumnElement[bool], what: str) -> User:
        with self._read() as conn:
            row = conn.execute(sa.select(t.users).where(where)).first()
            if row is None:
                raise UnknownUser(f"no user {what}")
            return _to_user(row, self._departments(conn, [row.id]).get(row.id, ()))

    @staticmethod
    def _id(conn: sa.Connection, username: str) -> int:
        row = conn.execute(sa.select(t.users.c.id).where(t.users.c.username == username)).first()
        if row is None:
            raise UnknownUser(f"no user {username}")
        return int(row[0])

    @staticmethod
    def _set_departments(conn: sa.Connection, uid: int, departments: Iterable[str]) -> None:
        rows = [{"user_id": uid, "department": d} for d in sorted(set(departments))]
        if rows:
            conn.execute(t.user_departments.insert(), rows)

    @staticmethod
    def _departments(conn: sa.Connection, ids: list[int]) -> dict[int, tuple[str, ...]]:
        if not ids:
            return {}
        d = t.user_departments.c
        out: dict[int, list[str]] = {}
        for uid, dept in conn.execute(
            sa.select(d.user_id, d.department).where(d.user_id.in_(ids)).order_by(d.department)
        ):
            out.setdefault(uid, []).append(dept)
        return {k: tuple(v) for k, v in out.items()}
