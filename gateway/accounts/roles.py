"""Who a signed-in person is, and what their role lets them do.

`agent` works tickets in their departments; `supervisor` also sees every department and the dashboard;
`admin` also manages users. Each role can do everything the roles below it can.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["agent", "supervisor", "admin"]
RANK: dict[str, int] = {"agent": 1, "supervisor": 2, "admin": 3}


def normalize_username(username: str) -> str:
    """Usernames are compared as typed, without surrounding spaces and without case ("MRivera" is "mrivera")."""
    return username.strip().casefold()


@dataclass(frozen=True, slots=True)
class StaffUser:
    """The person a session belongs to, as they were when they signed in (a change to their account ends
    their sessions, so this never goes stale)."""

    username: str
    name: str
    role: Role
    departments: tuple[str, ...] = ()
    source: str = "local"  # `local` (a password here) or `ldap` (the directory's)

    def has_role(self, role: str) -> bool:
        """At least `role`: an admin has the supervisor's and the agent's too."""
        return RANK.get(self.role, 0) >= RANK[role]

    @property
    def sees_every_department(self) -> bool:
        return self.has_role("supervisor")

    def works(self, department: str | None) -> bool:
        """Whether this person may work tickets of `department` (a queue)."""
        return self.sees_every_department or (department is not None and department in self.departments)
