"""The directory: CSV exports and LDAP/AD, and the cache in front of them."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator

from gateway.models import Role
from gateway.settings.base import Strict
from normalizers.phone import PhoneRules


class CsvColumns(Strict):
    """Which column of an export holds each field. Several columns may hold emails or phones."""

    id: str = "id"
    display_name: str = "name"
    email: list[str] = Field(default_factory=lambda: ["email"])
    phone: list[str] = Field(default_factory=lambda: ["phone"])
    role: str = ""  # empty: every row has the source's role
    school: str = "school"
    language: str = "language"
    household: str = ""  # rows with the same value are one family


class CsvSource(Strict):
    path: str
    role: Role = "parent"  # families exports: parent; staff exports: staff
    columns: CsvColumns = Field(default_factory=lambda: CsvColumns())
    # Values of the role column -> our roles, e.g. {"Guardian": "parent", "Teacher": "staff"}. Compared case-blind.
    role_map: dict[str, Role] = Field(default_factory=dict)


class LdapAttributes(Strict):
    id: str = ""  # empty: the entry's DN
    display_name: str = "displayName"
    email: list[str] = Field(default_factory=lambda: ["mail"])
    phone: list[str] = Field(default_factory=lambda: ["telephoneNumber", "mobile"])
    role: str = "employeeType"
    school: str = "physicalDeliveryOfficeName"
    language: str = "preferredLanguage"
    household: str = ""


class LdapSettings(Strict):
    url: str = Field("", pattern=r"^$|^ldaps?://")  # empty: no LDAP directory
    bind_dn: str = ""
    bind_password: SecretStr = SecretStr("")
    base_dn: str = ""
    # ANDed with every search: "(objectClass=person)", or for AD without disabled accounts
    # "(&(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))".
    search_filter: str = "(objectClass=person)"
    attributes: LdapAttributes = Field(default_factory=lambda: LdapAttributes())
    role_map: dict[str, Role] = Field(default_factory=dict)
    default_role: Role = "staff"
    # A lookup that takes longer is abandoned: intake goes on with what the channel told us.
    timeout_ms: int = Field(300, ge=10, le=10_000)
    # After a failure or a timeout, the directory is not asked again for this long.
    retry_after_s: float = Field(30.0, ge=0)
    ca_file: str = ""

    @model_validator(mode="after")
    def _base_dn_with_url(self) -> LdapSettings:
        if self.url and not self.base_dn:
            raise ValueError("identity.ldap.base_dn is required when identity.ldap.url is set")
        return self


class IdentitySettings(Strict):
    csv: list[CsvSource] = Field(default_factory=list)
    ldap: LdapSettings = Field(default_factory=lambda: LdapSettings())
    cache_ttl_s: int = Field(900, ge=0)
    negative_cache_ttl_s: int = Field(120, ge=0)
    cache_max_entries: int = Field(50_000, ge=1)
    # How often the CSV files' modification times are checked; a changed file is reloaded in the background.
    reload_check_s: float = Field(5.0, gt=0)
    default_country: str = Field("1", pattern=r"^[1-9]\d{0,2}$")
    # Regions (ISO 3166 codes, e.g. MX, VN) to read a number in when it is no real number of the district's own
    # country and no international number written without its +. Empty: such a number is refused.
    phone_regions: list[str] = Field(default_factory=list)

    @field_validator("phone_regions")
    @classmethod
    def _regions(cls, v: list[str]) -> list[str]:
        from phonenumbers import SUPPORTED_REGIONS

        unknown = [r for r in v if r.upper() not in SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"unknown region(s) {', '.join(unknown)}: expected ISO 3166 codes such as MX, VN, CN, GT")
        return [r.upper() for r in v]

    @property
    def phones(self) -> PhoneRules:
        return PhoneRules(self.default_country, self.phone_regions)

    @property
    def enabled(self) -> bool:
        return bool(self.csv or self.ldap.url)
