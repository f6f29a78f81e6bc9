"""Routing. For now one default route from settings; the operators' rules engine replaces `route`."""

from __future__ import annotations

from gateway.models import InboundMessage, Route
from gateway.settings import Settings


class Router:
    def __init__(self, settings: Settings) -> None:
        self.backend = settings.backends.default

    def route(self, message: InboundMessage) -> Route:
        return Route(
            queue=message.category or "general",
            backend=self.backend,
            category=message.category,
            tags=(message.channel,) + ((message.campus,) if message.campus else ()),
            rule_ids=("default",),
        )
