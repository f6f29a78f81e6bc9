"""The ticket backend registry: every ticket system module, listed explicitly."""

from __future__ import annotations

from collections.abc import Callable

from gateway.settings import Settings
from workers.backends.base import TicketBackend
from workers.backends.builtin import BuiltinBackend

BackendFactory = Callable[[Settings], TicketBackend]

BACKENDS: dict[str, BackendFactory] = {
    "builtin": BuiltinBackend.from_settings,
}


def get_backend(name: str, settings: Settings) -> TicketBackend:
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise LookupError(f"unknown ticket backend {name!r}; known: {sorted(BACKENDS)}") from None
    return factory(settings)
