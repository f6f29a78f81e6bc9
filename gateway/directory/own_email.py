"""The family's own email address for a phone number, from the directory: where a reply may go when the channel
the family wrote on cannot carry it (Meta's window has closed) and the conversation holds no address.

Conservative on purpose, since a wrong guess sends a family's update to a stranger:
- the people behind the phone must be one person, or one household (every entry carries the same household
  id); a number shared by unrelated people, or by anyone on staff, gives no address;
- the address is that person's own, or (for a household) a guardian's (never a student's school account);
- read back in the directory, the address belongs to nobody outside that person or household, and to no one
  on staff.
A directory that cannot answer gives no address: the reply is decided without one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from gateway.directory.base import Directory, DirectoryUnavailable, Entry, Kind
from gateway.directory.csv_files import CsvDirectory
from gateway.directory.ldap import LdapDirectory
from gateway.settings import IdentitySettings

log = logging.getLogger("intake.directory.own_email")

Lookup = Callable[[Kind, str], list[Entry]]


def _family(entries: Sequence[Entry]) -> tuple[set[str], str | None] | None:
    """(person ids, household id) of the one person or household behind an address; None when it is anything else."""
    people = {e.id: e for e in entries}
    if not people or any(e.role == "staff" for e in entries):
        return None
    if len(people) == 1:
        return set(people), next(iter(people.values())).household
    households = {e.household for e in entries}
    if len(households) != 1 or None in households:
        return None
    return set(people), households.pop()


def own_email(phone: str, lookup: Lookup) -> str | None:
    """The address of the person or household behind `phone`, by the rule above. Raises DirectoryUnavailable."""
    behind_phone = lookup("phone", phone)
    family = _family(behind_phone)
    if family is None:
        return None
    ids, household = family
    one_person = len(ids) == 1
    for e in behind_phone:
        if not one_person and e.role == "student":
            continue
        for address in e.emails:
            owners = _family(lookup("email", address))
            if owners is None:
                continue
            owner_ids, owner_household = owners
            if owner_ids <= ids or (household is not None and owner_household == household):
                return address
    return None


def _directories(conf: IdentitySettings) -> list[Directory]:
    found: list[Directory] = []
    if conf.csv:
        found.append(CsvDirectory(conf.csv, conf.phones))
    if conf.ldap.url:
        found.append(LdapDirectory(conf.ldap, conf.phones))
    return found


def directory_email(conf: IdentitySettings, phone: str) -> str | None:
    """The family's own address for `phone` in the first configured directory that knows the number, or None.

    Blocking (LDAP): for workers, never the request path. Each call opens and closes its own connections; it
    runs only for a reply that cannot go on its own channel.
    """
    if not conf.enabled or not phone:
        return None
    directories = _directories(conf)
    try:
        for directory in directories:
            try:
                if directory.lookup("phone", phone):
                    return own_email(phone, directory.lookup)
            except DirectoryUnavailable as exc:
                log.warning("directory unavailable: no email from it", extra={"directory": directory.name,
                                                                              "why": str(exc)})  # fmt: skip
        return None
    finally:
        for directory in directories:
            if isinstance(directory, LdapDirectory):
                directory.close()
