"""Fixtures for "who is asking": a real slapd seeded with staff and parents, and the CSV exports' settings.

Use them with `pytest_plugins = ["tests.directory_fixtures"]` in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.slapd import BASE_DN, BIND_DN, BIND_PASSWORD, Slapd, person

PAYLOADS = Path(__file__).resolve().parent / "payloads" / "directory"

# Staff and one family that shares a home phone (the Okafor household: two guardians, children at two schools).
SEED = (
    person("mrivera", cn="Maria Rivera", sn="Rivera", displayName="Maria Rivera", mail="maria.rivera@district.test",
           telephoneNumber="+1 555 201 0101", employeeType="Teacher", physicalDeliveryOfficeName="lhs",
           preferredLanguage="es")
    + person("jchen", cn="John Chen", sn="Chen", displayName="John Chen", mail="j.chen@district.test",
             mobile="(555) 201-0102", employeeType="Staff", physicalDeliveryOfficeName="wms",
             preferredLanguage="zh-Hans-CN")
    + person("nokafor", cn="Ngozi Okafor", sn="Okafor", displayName="Ngozi Okafor", mail="ngozi.okafor@example.net",
             homePhone="555-501-0001", employeeType="Parent", physicalDeliveryOfficeName="jes",
             preferredLanguage="en")
    + person("eokafor", cn="Emeka Okafor", sn="Okafor", displayName="Emeka Okafor", homePhone="555-501-0001",
             employeeType="Parent", physicalDeliveryOfficeName="wms")
)  # fmt: skip

# Tests that need the directory's answer give it time to come on a loaded machine; tests of the request-path
# bound set their own timeout_ms and measure it.
ANSWER_TIMEOUT_MS = 5000


def ldap_settings(server: Slapd, **overrides: Any) -> dict[str, Any]:
    """The `identity.ldap` section for the seeded server."""
    conf: dict[str, Any] = {
        "url": server.url,
        "bind_dn": BIND_DN,
        "bind_password": BIND_PASSWORD,
        "base_dn": BASE_DN,
        "search_filter": "(objectClass=inetOrgPerson)",
        "attributes": {"id": "uid", "phone": ["telephoneNumber", "mobile", "homePhone"]},
        "role_map": {"Teacher": "staff", "Staff": "staff", "Parent": "parent"},
        "timeout_ms": ANSWER_TIMEOUT_MS,
    }
    conf.update(overrides)
    return conf


def csv_settings(directory: Path = PAYLOADS) -> list[dict[str, Any]]:
    """The `identity.csv` list for the two exports in tests/payloads/directory."""
    return [
        {
            "path": str(directory / "families.csv"),
            "role": "parent",
            "columns": {"id": "contact_id", "display_name": "contact_name", "email": ["email"],
                        "phone": ["home_phone", "mobile_phone"], "role": "relationship", "school": "student_school",
                        "language": "home_language", "household": "household_id"},
            "role_map": {"Guardian": "parent", "Student": "student"},
        },
        {
            "path": str(directory / "staff.csv"),
            "role": "staff",
            "columns": {"id": "employee_id", "display_name": "full_name", "email": ["work_email"],
                        "phone": ["work_phone", "cell_phone"], "school": "building", "language": "language"},
        },
    ]  # fmt: skip


@pytest.fixture
def slapd() -> Iterator[Slapd]:
    """A running OpenLDAP server on a free loopback port, seeded with SEED; removed after the test."""
    server = Slapd(SEED)
    try:
        server.start()
        yield server
    finally:
        server.close()
