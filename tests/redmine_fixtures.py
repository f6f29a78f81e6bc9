"""Fixtures for the Redmine backend's tests: one real Redmine per test session, and staff working in it.

Use them with `pytest_plugins = ["tests.redmine_fixtures"]` in tests/conftest.py.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from redminelib import Redmine

from tests.support.redmine import RedmineServer, prepared


@pytest.fixture(scope="session")
def redmine() -> Iterator[RedmineServer]:
    """A running Redmine (Debian's package) on a free port; issues made by one test stay for the next."""
    server = RedmineServer(prepared())
    try:
        server.start()
        print(f"\nRedmine started in {server.started_in_s:.1f} s", file=sys.stderr)
        yield server
    finally:
        server.close()


def redmine_section(server: RedmineServer, **extra: Any) -> dict[str, Any]:
    """A `backends.redmine` section for the test Redmine: the gateway's key, its field ids, Transportation mapped."""
    facts = server.facts
    section: dict[str, Any] = {
        "url": server.url,
        "api_key": facts["api_key"],
        "project": "helpdesk",
        "request_id_field": facts["request_field"],
        "requester_field": facts["requester_field"],
        "poll_overlap_s": 60,
        "map": {
            "queue": {"transportation": "transport"},
            "priority": {"low": "Low", "normal": "Normal", "high": "High", "urgent": "Urgent"},
            "custom_fields": {"school": str(facts["school_field"])},
        },
    }
    section.update(extra)
    return section


class Staff:
    """María López, who works the help desk in Redmine itself (with her own API key, as Redmine's UI would)."""

    def __init__(self, server: RedmineServer) -> None:
        self.server = server
        self.api = Redmine(server.url, key=server.facts["staff_key"], requests={"timeout": 30})

    def issues_for(self, request_id: str) -> list[Any]:
        """Every issue carrying this request id, in any project."""
        field = self.server.facts["request_field"]
        return list(self.api.issue.filter(**{f"cf_{field}": request_id}, status_id="*"))

    def issue(self, issue_id: int | str) -> Any:
        return self.api.issue.get(int(issue_id), include=["journals", "attachments", "children"])

    def notes(self, issue_id: int | str) -> list[str]:
        """Every note on the issue, private ones too, with Redmine's CRLF line ends read as \n."""
        return [j.notes.replace("\r\n", "\n") for j in self.issue(issue_id).journals if getattr(j, "notes", None)]

    def answer(self, issue_id: int | str, text: str, *, private: bool = False, status: str | None = None) -> None:
        fields: dict[str, Any] = {"notes": text, "private_notes": private}
        if status is not None:
            fields["status_id"] = self.status_id(status)
        self.api.issue.update(int(issue_id), **fields)

    def status_id(self, name: str) -> int:
        return next(int(s.id) for s in self.api.issue_status.all() if s.name == name)

    def field(self, issue: Any, field_id: int) -> Any:
        return next((getattr(f, "value", None) for f in issue.custom_fields if int(f.id) == field_id), None)


@pytest.fixture
def staff(redmine: RedmineServer) -> Staff:
    return Staff(redmine)
