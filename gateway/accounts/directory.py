"""Signing in with the district's directory password (LDAP or Active Directory).

The service account (`identity.ldap.bind_dn`) finds the person by what they typed (`signin.ldap.user_filter`);
then a new connection binds as that person with the password they gave: the directory alone judges it. Their
groups (`signin.ldap.group_filter`, searched by the service account) decide their role and departments through
`signin.ldap.roles` and `signin.ldap.departments`. Calls block: the web process runs this on a worker thread.
"""

from __future__ import annotations

import contextlib
import math
import ssl
from dataclasses import dataclass

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from gateway.accounts.roles import RANK, Role
from gateway.directory.base import DirectoryUnavailable
from gateway.settings import DirectorySignin, LdapSettings


@dataclass(frozen=True, slots=True)
class DirectoryPerson:
    dn: str
    name: str
    email: str | None
    role: Role | None  # None: in no group that `signin.ldap.roles` names
    departments: tuple[str, ...]


def normalize_dn(dn: str) -> str:
    """DNs as the directory may spell them ("CN=Desk, OU=Groups") compared as one."""
    return ",".join(part.strip() for part in dn.split(",")).replace(" =", "=").replace("= ", "=").casefold()


def _first(entry: dict[str, object], name: str) -> str | None:
    value = (entry.get("attributes") or {}).get(name)  # type: ignore[attr-defined]
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    return str(value).strip() or None if value not in (None, "") else None


def _close(conn: ldap3.Connection) -> None:
    with contextlib.suppress(LDAPException, OSError):
        conn.unbind()
    # ldap3 2.9.1 keeps the socket of a failed connect open (unbind skips a connection it thinks closed).
    sock = getattr(conn, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()


class DirectoryAuth:
    def __init__(self, ldap: LdapSettings, conf: DirectorySignin) -> None:
        self.ldap = ldap
        self.conf = conf
        self.tls = None
        if ldap.url.startswith("ldaps://") or ldap.ca_file:
            self.tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=ldap.ca_file or None)
        self.roles: dict[str, Role] = {normalize_dn(k): v for k, v in conf.roles.items()}  # type: ignore[misc]
        self.departments = {normalize_dn(k): tuple(v) for k, v in conf.departments.items()}

    def _connect(self, user: str | None, password: str | None) -> ldap3.Connection:
        # A Server of its own each time: ldap3 marks an address that once failed as unavailable for a while, and a
        # directory that is back must be asked at once.
        server = ldap3.Server(self.ldap.url, get_info=ldap3.NONE, connect_timeout=self.conf.timeout_s, tls=self.tls)
        return ldap3.Connection(
            server, user=user, password=password, read_only=True, raise_exceptions=False,
            receive_timeout=max(1, math.ceil(self.conf.timeout_s)),  # ldap3 wants whole seconds here
        )  # fmt: skip

    def authenticate(self, username: str, password: str) -> DirectoryPerson | None:
        """The person, when the directory accepts this password for them; None when it does not (or when no one,
        or more than one person, answers to the name). DirectoryUnavailable when it cannot be asked."""
        # An empty password is an "unauthenticated bind", which LDAP servers accept for any DN: never a sign-in.
        if not username or not password:
            return None
        service = self._connect(self.ldap.bind_dn or None, self.ldap.bind_password.get_secret_value() or None)
        try:
            if not service.bind():
                reason = (service.result or {}).get("description", "bind failed")
                raise DirectoryUnavailable(f"LDAP service bind refused: {reason}")
            entry = self._find(service, username)
            if entry is None:
                return None
            dn = str(entry["dn"])
            if not self._password_ok(dn, password):
                return None
            groups = self._groups(service, dn)
        except (LDAPException, OSError) as exc:
            raise DirectoryUnavailable(f"LDAP sign-in failed: {type(exc).__name__}") from None
        finally:
            _close(service)
        return self._person(entry, dn, groups)

    def _find(self, conn: ldap3.Connection, username: str) -> dict[str, object] | None:
        wanted = self.conf.user_filter.replace("{username}", escape_filter_chars(username))
        query = f"(&{self.ldap.search_filter}{wanted})"
        a = self.ldap.attributes
        attributes = sorted({x for x in (a.display_name, *a.email) if x})
        ok = conn.search(self.ldap.base_dn, query, search_scope=ldap3.SUBTREE, attributes=attributes, size_limit=2)
        description = (conn.result or {}).get("description", "")
        if not ok and description not in ("success", "sizeLimitExceeded", "noSuchObject"):
            raise DirectoryUnavailable(f"LDAP search failed: {description or 'no answer'}")
        found = [r for r in conn.response or [] if r.get("type") == "searchResEntry"]
        return found[0] if len(found) == 1 else None

    def _password_ok(self, dn: str, password: str) -> bool:
        conn = self._connect(dn, password)
        try:
            if conn.bind():
                return True
            result = conn.result or {}
            # invalidCredentials (49): a wrong password or a disabled AD account. Anything else is the directory's.
            if result.get("result") == 49:
                return False
            raise DirectoryUnavailable(f"LDAP bind failed: {result.get('description', 'no answer')}")
        finally:
            _close(conn)

    def _groups(self, conn: ldap3.Connection, dn: str) -> list[str]:
        query = self.conf.group_filter.replace("{dn}", escape_filter_chars(dn))
        base = self.conf.group_base_dn or self.ldap.base_dn
        ok = conn.search(base, query, search_scope=ldap3.SUBTREE, attributes=["1.1"])
        description = (conn.result or {}).get("description", "")
        if not ok and description not in ("success", "noSuchObject"):
            raise DirectoryUnavailable(f"LDAP group search failed: {description or 'no answer'}")
        return [str(r["dn"]) for r in conn.response or [] if r.get("type") == "searchResEntry"]

    def _person(self, entry: dict[str, object], dn: str, groups: list[str]) -> DirectoryPerson:
        names = [normalize_dn(g) for g in groups]
        roles: list[Role] = [self.roles[g] for g in names if g in self.roles]
        role: Role | None = None
        for found in roles:
            if role is None or RANK[found] > RANK[role]:
                role = found
        departments = sorted({d for g in names for d in self.departments.get(g, ())})
        a = self.ldap.attributes
        email = next((e for e in (_first(entry, attr) for attr in a.email) if e), None)
        return DirectoryPerson(
            dn=dn, name=_first(entry, a.display_name) or "", email=email.lower() if email else None, role=role,
            departments=tuple(departments),
        )  # fmt: skip
