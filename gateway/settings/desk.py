"""The desk's choices that are the district's own: the kinds of work staff log their time against, and the names
staff pages give the departments."""

from __future__ import annotations

from pydantic import Field, field_validator

from gateway.settings.base import Strict

DEFAULT_WORK_TYPES = ("break/fix", "training", "curriculum support", "project")


class DeskSettings(Strict):
    # What time logged on a ticket was spent on (`intake tickets log-time --type`, the desk, the time-spent report).
    # Leaders read the report by these names: keep a name once time is logged against it.
    work_types: list[str] = Field(default_factory=lambda: list(DEFAULT_WORK_TYPES), min_length=1)
    # How the desk and the dashboard name a department (a queue id), per staff page language:
    # {hr: {en: Human Resources}}. A queue not named here is shown by its id.
    departments: dict[str, dict[str, str]] = Field(default_factory=dict)

    @field_validator("work_types")
    @classmethod
    def _named_once(cls, v: list[str]) -> list[str]:
        cleaned = [w.strip() for w in v]
        if any(not w for w in cleaned):
            raise ValueError("a work type needs a name")
        repeated = sorted({w for w in cleaned if cleaned.count(w) > 1})
        if repeated:
            raise ValueError(f"work types named twice: {', '.join(repeated)}")
        return cleaned

    @field_validator("departments")
    @classmethod
    def _named(cls, v: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        unnamed = sorted(queue for queue, names in v.items() if not any(n.strip() for n in names.values()))
        if unnamed:
            raise ValueError(f"departments with no name: {', '.join(unnamed)} (expected e.g. {{en: Human Resources}})")
        return {queue: {lang: n.strip() for lang, n in names.items() if n.strip()} for queue, names in v.items()}
