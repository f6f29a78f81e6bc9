"""Judging one sign-in: a local account's password, or the directory's; who the person is, and why not.

This knows nothing of the web or of lockout (the caller checks the locks first and counts what this refuses).
Calls block (argon2 on purpose, the database, LDAP): the web process runs `authenticate` on a worker thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from gateway.accounts import passwords
from gateway.accounts.directory import DirectoryAuth, DirectoryPerson
from gateway.accounts.roles import StaffUser, normalize_username
from gateway.directory.base import DirectoryUnavailable
from gateway.tickets import UnknownUser, User, UserExists, UserRepository

log = logging.getLogger("intake.accounts.signin")


class Verdict(Enum):
    OK = "ok"
    WRONG = "wrong"  # no such person, or not their password: the same answer for both
    DISABLED = "disabled"  # the right password for an account an administrator switched off
    NOT_STAFF = "not_staff"  # the directory knows them, but no group makes them staff and no account does
    UNAVAILABLE = "unavailable"  # the directory could not be asked: not their fault, not counted


@dataclass(frozen=True, slots=True)
class Result:
    verdict: Verdict
    username: str
    user: StaffUser | None = None
    known: bool = False  # an account by that name exists (its failures are counted on it too)


def staff_user(account: User) -> StaffUser:
    return StaffUser(account.username, account.name, account.role, account.departments, account.source)


class Authenticator:
    def __init__(self, users: UserRepository, directory: DirectoryAuth | None) -> None:
        self.users = users
        self.directory = directory

    def _account(self, username: str) -> User | None:
        try:
            return self.users.get(username)
        except UnknownUser:
            return None

    def authenticate(self, typed: str, password: str) -> Result:
        username = normalize_username(typed)
        account = self._account(username) if username else None
        if account is not None and account.source == "local":
            return self._local(account, password)
        if self.directory is None:
            passwords.verify(None, password)  # as long as a real check: no telling accounts apart by time
            return Result(Verdict.WRONG, username, known=account is not None)
        try:
            person = self.directory.authenticate(username, password)
        except DirectoryUnavailable as exc:
            log.warning("directory sign-in unavailable", extra={"error": str(exc)})
            return Result(Verdict.UNAVAILABLE, username, known=account is not None)
        if person is None:
            return Result(Verdict.WRONG, username, known=account is not None)
        if account is not None and account.disabled:
            return Result(Verdict.DISABLED, username, known=True)
        if person.role is None and account is None:
            return Result(Verdict.NOT_STAFF, username)
        return Result(Verdict.OK, username, self._directory_account(username, person, account), known=True)

    def _local(self, account: User, password: str) -> Result:
        if not passwords.verify(account.password_hash, password):
            return Result(Verdict.WRONG, account.username, known=True)
        if account.disabled:
            return Result(Verdict.DISABLED, account.username, known=True)
        if account.password_hash and passwords.needs_rehash(account.password_hash):
            self.users.update(account.username, password_hash=passwords.hash_password(password))
        return Result(Verdict.OK, account.username, staff_user(account), known=True)

    def _directory_account(self, username: str, person: DirectoryPerson, account: User | None) -> StaffUser:
        """The person's account here, made or brought up to date from the directory: the desk lists them as an
        assignee and the audit log names them. A group's role wins; without one, the account's (added by hand)."""
        role = person.role or (account.role if account else "agent")
        departments = person.departments if person.role else (account.departments if account else ())
        name = person.name or (account.name if account else username)
        if account is None:
            try:
                account = self.users.add(username, name, role, email=person.email, departments=departments,
                                         source="ldap")  # fmt: skip
            except UserExists:  # another web process made it just now, or the email is another account's
                account = self._account(username) or self.users.add(
                    username, name, role, departments=departments, source="ldap"
                )
        changed = (account.name, account.role, account.departments) != (name, role, tuple(departments))
        if changed:
            account = self.users.update(username, name=name, role=role, departments=departments)
        return staff_user(account)
