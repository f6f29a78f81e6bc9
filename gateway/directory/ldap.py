"""A directory in LDAP or Active Directory (ldap3): bind as a service account, search by mail or phone.

Calls block, so the resolver runs them on worker threads under a deadline (gateway/identity.py); the
socket timeouts here only make sure an abandoned thread ends too. Each thread keeps its own bound
connection (ldap3's synchronous connections are not shared between threads) and drops it on any error.
"""

from __future__ import annotations

import contextlib
import logging
import math
import ssl
import threading
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from gateway.directory.base import DirectoryUnavailable, Entry, Kind
from gateway.intake.languages import language_code
from gateway.models import Role
from gateway.settings import LdapSettings
from normalizers.phone import US, PhoneRules

log = logging.getLogger("intake.directory.ldap")

ROLES: frozenset[str] = frozenset({"parent", "student", "staff", "community"})
SIZE_LIMIT = 50  # more people than this behind one address is not a household
# An abandoned lookup's thread gives up after this many times the request-path timeout.
SOCKET_TIMEOUT_FACTOR = 10


def _values(attributes: Any, name: str) -> list[str]:
    if not name:
        return []
    raw = attributes.get(name)
    if raw is None:
        return []
    items = raw if isinstance(raw, list | tuple) else [raw]
    return [v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in items if v not in (None, "")]


def _first(attributes: Any, name: str) -> str | None:
    found = _values(attributes, name)
    return found[0].strip() or None if found else None


def phone_filter(attribute: str, e164: str) -> str:
    """Exact E.164, or any spelling ending in the same seven digits ('555-123-4567', '(555) 123 4567').

    The second clause is loose on purpose (AD stores phones as free text); results are checked exactly after.
    """
    digits = e164.lstrip("+")
    exact = f"({attribute}={escape_filter_chars(e164)})"
    if len(digits) < 7:
        return exact
    return f"(|{exact}({attribute}=*{digits[-7:-4]}*{digits[-4:]}))"


class LdapDirectory:
    name = "ldap"
    blocking = True

    def __init__(self, conf: LdapSettings, phones: PhoneRules = US) -> None:
        self.conf = conf
        self.phones = phones
        socket_timeout = conf.timeout_ms / 1000 * SOCKET_TIMEOUT_FACTOR
        tls = None
        if conf.url.startswith("ldaps://") or conf.ca_file:
            tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=conf.ca_file or None)
        self.server = ldap3.Server(conf.url, get_info=ldap3.NONE, connect_timeout=socket_timeout, tls=tls)
        self.socket_timeout = socket_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[ldap3.Connection] = set()
        self._closed = False
        a = conf.attributes
        wanted = [a.id, a.display_name, *a.email, *a.phone, a.role, a.school, a.language, a.household]
        self.attributes = sorted({x for x in wanted if x})

    def _connection(self) -> ldap3.Connection:
        conn: ldap3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and conn.bound:
            return conn
        conn = ldap3.Connection(
            self.server,
            user=self.conf.bind_dn or None,
            password=self.conf.bind_password.get_secret_value() or None,
            read_only=True,
            # ldap3 packs this into SO_RCVTIMEO as whole seconds: a float fails with struct.error.
            receive_timeout=max(1, math.ceil(self.socket_timeout)),
            raise_exceptions=False,
        )
        with self._lock:
            # A lookup abandoned for being slow may still be running when the process closes the directory: it
            # must not open a connection nobody will close.
            if self._closed:
                raise DirectoryUnavailable("the directory was closed")
            self._open.add(conn)  # before the bind: close() must reach a connection stuck in it too
        try:
            bound = conn.bind()
        except (LDAPException, OSError):
            self._discard(conn)
            raise
        if not bound:
            # The result names the reason (invalidCredentials...), never the password.
            reason = (conn.result or {}).get("description", "bind failed")
            self._discard(conn)
            raise DirectoryUnavailable(f"LDAP bind refused: {reason}")
        self._local.conn = conn
        return conn

    def _discard(self, conn: ldap3.Connection) -> None:
        with self._lock:
            self._open.discard(conn)
        with contextlib.suppress(LDAPException, OSError):  # already broken: that is why it is dropped
            conn.unbind()
        # ldap3 2.9.1 keeps the socket of a failed connect open (unbind skips a connection it thinks closed).
        sock = getattr(conn, "socket", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def _drop(self) -> None:
        conn: ldap3.Connection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            self._discard(conn)

    def _filter(self, kind: Kind, value: str) -> str:
        a = self.conf.attributes
        if kind == "email":
            clauses = "".join(f"({attr}={escape_filter_chars(value)})" for attr in a.email)
        else:
            clauses = "".join(phone_filter(attr, value) for attr in a.phone)
        return f"(&{self.conf.search_filter}(|{clauses}))"

    def _search(self, query: str) -> list[dict[str, Any]]:
        try:
            conn = self._connection()
            ok = conn.search(
                self.conf.base_dn,
                query,
                search_scope=ldap3.SUBTREE,
                attributes=self.attributes,
                size_limit=SIZE_LIMIT,
                time_limit=max(1, int(self.socket_timeout)),
            )
        except (LDAPException, OSError) as exc:
            self._drop()
            raise DirectoryUnavailable(f"LDAP search failed: {type(exc).__name__}") from None
        description = (conn.result or {}).get("description", "")
        if not ok and description not in ("success", "sizeLimitExceeded", "noSuchObject"):
            self._drop()
            raise DirectoryUnavailable(f"LDAP search failed: {description or 'no answer'}")
        return [r for r in conn.response or [] if r.get("type") == "searchResEntry"]

    def lookup(self, kind: Kind, value: str) -> list[Entry]:
        query = self._filter(kind, value)
        kept = getattr(self._local, "conn", None) is not None
        try:
            found = self._search(query)
        except DirectoryUnavailable:
            if not kept:
                raise
            # A kept connection the server has since closed (AD drops idle ones): once more, on a new one.
            found = self._search(query)
        entries = [self._entry(r) for r in found]
        if kind == "email":
            return [e for e in entries if value in e.emails]
        return [e for e in entries if value in e.phones]  # the loose phone clause, made exact

    def _entry(self, result: dict[str, Any]) -> Entry:
        a, attrs = self.conf.attributes, result.get("attributes") or {}
        phones = (self.phones.e164(p) for attr in a.phone for p in _values(attrs, attr))
        return Entry(
            id=(_first(attrs, a.id) if a.id else None) or str(result.get("dn", "")),
            display_name=_first(attrs, a.display_name) or "",
            role=self._role(_first(attrs, a.role)),
            school=_first(attrs, a.school),
            language=language_code(_first(attrs, a.language)),
            household=_first(attrs, a.household),
            emails=tuple(dict.fromkeys(v.strip().lower() for attr in a.email for v in _values(attrs, attr))),
            phones=tuple(dict.fromkeys(p for p in phones if p)),
        )

    def _role(self, value: str | None) -> Role:
        if not value:
            return self.conf.default_role
        mapped = {k.casefold(): v for k, v in self.conf.role_map.items()}.get(value.casefold())
        if mapped:
            return mapped
        return value.casefold() if value.casefold() in ROLES else self.conf.default_role  # type: ignore[return-value]

    def health(self) -> dict[str, object]:
        """Binds and reads the base entry: reachable, and our account may search."""
        try:
            conn = self._connection()
            ok = conn.search(self.conf.base_dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["1.1"])
        except DirectoryUnavailable as exc:
            return {"ok": False, "error": str(exc)}
        except (LDAPException, OSError) as exc:
            self._drop()
            return {"ok": False, "error": type(exc).__name__}
        if not ok:
            return {"ok": False, "error": (conn.result or {}).get("description", "base DN not readable")}
        return {"ok": True}

    def close(self) -> None:
        """Unbind every thread's connection."""
        with self._lock:
            conns, self._open, self._closed = list(self._open), set(), True
        for conn in conns:
            self._discard(conn)
