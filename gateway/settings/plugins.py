"""Sections a plug-in brings: `channels.<name>` and `backends.<name>` beyond the ones this module knows.

The settings accept them as they are; the plug-in's registry validates each against the plug-in's own
model when a process starts (`intake check-config` and every process's start), so a misspelt section
or key is still an error that names the file, the key and the fix.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from gateway.settings.base import Strict, describe


class WithPluginSections(Strict):
    """A section whose unknown keys are plug-in sections, checked later by their registry."""

    model_config = ConfigDict(extra="allow")

    def plugin_sections(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def section(self, name: str) -> Any:
        """The raw settings of plug-in `name`, or {} when the file has none."""
        return (self.model_extra or {}).get(name, {})


def section_problems(source_file: str, where: str, name: str, model: type[BaseModel] | None, raw: Any) -> list[str]:
    """What is wrong with plug-in section `<where>.<name>`, each naming the file, the key and the fix."""
    if model is None:
        if raw in ({}, None):
            return []
        return [f"{source_file}: key {where}.{name}: this plug-in takes no settings (remove the section)"]
    try:
        model.model_validate(raw or {})
    except ValidationError as exc:
        return [describe(source_file, err, (where, name)) for err in exc.errors()]
    return []


def unknown_section(source_file: str, where: str, name: str, known: list[str]) -> str:
    return f"{source_file}: key {where}.{name}: no such {where[:-1]} (check the spelling; known: {', '.join(known)})"
