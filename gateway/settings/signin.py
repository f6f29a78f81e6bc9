"""Staff sign-in for the desk and the dashboard: sessions, lockout, and who in the directory may sign in."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from gateway.settings.base import Strict

STAFF_ROLES = ("agent", "supervisor", "admin")


class LockoutSettings(Strict):
    """Failed sign-ins lock an account, and a client address, for a time that doubles with each lock."""

    account_attempts: int = Field(5, ge=1, le=1000)  # failures in a row that lock one account
    client_attempts: int = Field(20, ge=1, le=100_000)  # failures from one client address (any accounts)
    lock_s: int = Field(60, ge=1)  # the first lock; each further one in the same streak doubles
    max_lock_s: int = Field(3600, ge=1)
    # A streak of failures is forgotten this long after its last failure (or its lock's end).
    forget_s: int = Field(3600, ge=1)

    @model_validator(mode="after")
    def _max_not_below_first(self) -> LockoutSettings:
        if self.max_lock_s < self.lock_s:
            raise ValueError("signin.lockout.max_lock_s must be at least signin.lockout.lock_s")
        return self


class DirectorySignin(Strict):
    """Signing in with the district's directory password (LDAP or Active Directory, `identity.ldap`)."""

    enabled: bool = False
    # Finds the person by what they type; {username} is escaped. AD: "(sAMAccountName={username})".
    user_filter: str = "(uid={username})"
    # The groups a person is in: searched under group_base_dn (empty: identity.ldap.base_dn); {dn} is theirs.
    # AD with nested groups: "(member:1.2.840.113556.1.4.1941:={dn})".
    group_filter: str = "(|(member={dn})(uniqueMember={dn}))"
    group_base_dn: str = ""
    # A group's DN -> the role its members get (the highest of their groups wins). Someone in none of these
    # groups signs in only with an account an admin added for them (`intake users add NAME --ldap`).
    roles: dict[str, str] = Field(default_factory=dict)
    # A group's DN -> the departments (queues) its members work.
    departments: dict[str, list[str]] = Field(default_factory=dict)
    timeout_s: float = Field(10.0, gt=0, le=120)

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, v: dict[str, str]) -> dict[str, str]:
        wrong = sorted({r for r in v.values() if r not in STAFF_ROLES})
        if wrong:
            raise ValueError(f"unknown role(s) {', '.join(wrong)}: expected {', '.join(STAFF_ROLES)}")
        return v

    @field_validator("user_filter")
    @classmethod
    def _names_the_user(cls, v: str) -> str:
        if "{username}" not in v:
            raise ValueError("must contain {username}, e.g. (uid={username}) or (sAMAccountName={username})")
        return v

    @field_validator("group_filter")
    @classmethod
    def _names_the_dn(cls, v: str) -> str:
        if "{dn}" not in v:
            raise ValueError("must contain {dn}, e.g. (member={dn})")
        return v


class SigninSettings(Strict):
    # A session ends this long after sign-in whatever happens, and after idle_minutes without a request.
    session_hours: float = Field(12.0, gt=0, le=24 * 30)
    idle_minutes: float = Field(60.0, gt=0)
    password_min_length: int = Field(12, ge=8, le=128)
    lockout: LockoutSettings = Field(default_factory=lambda: LockoutSettings())
    ldap: DirectorySignin = Field(default_factory=lambda: DirectorySignin())
