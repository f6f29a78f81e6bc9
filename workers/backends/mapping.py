"""From our route to a ticket system's own fields: queue, priority, group and custom fields, from config.

Each backend's settings section carries a `map:` with the same shape, so a district writes the one
mapping for whichever system it runs:

    backends:
      rt:
        map:
          queue: {it: "IT Help", transportation: "Transportation"}   # our queue (department) -> theirs
          priority: {urgent: 90, high: 70, normal: 50, low: 20}
          category: {wifi: "Network"}                                 # optional: category -> their category
          school: {lhs: "Lincoln High"}                               # optional: school -> their value
          custom_fields: {school: "School", category: "Category"}     # our field -> their custom field name
          default_queue: "General"

Unmapped values pass through as they are (our queue name), so a system set up with our names needs no map.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import Field, field_validator

from gateway.models import InboundMessage, Route
from gateway.settings.base import Strict

OURS = ("queue", "priority", "category", "school", "language", "channel")


class FieldMap(Strict):
    queue: dict[str, str] = Field(default_factory=dict)
    priority: dict[str, str | int] = Field(default_factory=dict)
    category: dict[str, str] = Field(default_factory=dict)
    school: dict[str, str] = Field(default_factory=dict)
    # Which of our fields (queue, priority, category, school, language, channel) go to which custom field of theirs.
    custom_fields: dict[str, str] = Field(default_factory=dict)
    default_queue: str = ""

    @field_validator("custom_fields")
    @classmethod
    def _ours(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(OURS))
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}: expected some of {', '.join(OURS)}")
        return v

    def mapped(self, route: Route, message: InboundMessage) -> Mapped:
        ours = {
            "queue": route.queue,
            "priority": route.priority.value,
            "category": route.category or message.category or "",
            "school": message.campus or message.requester.campus or "",
            "language": message.language,
            "channel": message.channel,
        }
        queue = self.queue.get(route.queue) or (self.default_queue if self.queue else "") or route.queue
        values = {
            "queue": queue,
            "priority": self.priority.get(route.priority.value, route.priority.value),
            "category": self.category.get(ours["category"], ours["category"]),
            "school": self.school.get(ours["school"], ours["school"]),
            "language": ours["language"],
            "channel": ours["channel"],
        }
        custom = {theirs: str(values[our]) for our, theirs in self.custom_fields.items() if values.get(our)}
        return Mapped(queue=queue, priority=values["priority"], category=str(values["category"]),
                      school=str(values["school"]), custom_fields=custom)  # fmt: skip


@dataclass(frozen=True)
class Mapped:
    """A request's fields as the ticket system names them."""

    queue: str
    priority: str | int
    category: str
    school: str
    custom_fields: dict[str, str] = field(default_factory=dict)
