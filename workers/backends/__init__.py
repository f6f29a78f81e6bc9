"""The ticket backend registry: every ticket system module, listed explicitly.

Adding a backend is one module and one line here; the worker's queues, routing rules, incidents,
SLA rescheduling, the events webhook and status sync all loop over this dict.
"""

from __future__ import annotations

from gateway.settings import Settings
from gateway.settings.plugins import section_problems as section_problems_of
from gateway.settings.plugins import unknown_section
from workers.backends.base import BackendClass, TicketBackend
from workers.backends.builtin import BuiltinBackend
from workers.backends.rt import RtBackend

BACKENDS: dict[str, BackendClass] = {
    "builtin": BuiltinBackend,
    "rt": RtBackend,
}


def get_backend(name: str, settings: Settings) -> TicketBackend:
    try:
        cls = BACKENDS[name]
    except KeyError:
        raise LookupError(f"unknown ticket backend {name!r}; known: {sorted(BACKENDS)}") from None
    return cls.from_settings(settings)


def enabled_backends(settings: Settings) -> dict[str, BackendClass]:
    """The backends the settings switch on (the built-in store always is)."""
    return {name: cls for name, cls in BACKENDS.items() if cls.enabled(settings)}


def backend_checks(settings: Settings) -> list[tuple[str, bool, str]]:
    """Each switched-on backend's own check (credentials, mapped queues), for `intake check-config` and `doctor`."""
    out = []
    for name, cls in enabled_backends(settings).items():
        problems = cls.from_settings(settings).check()
        out.append((f"backend {name}", not problems, "; ".join(problems) or "reachable; credentials and mapping ok"))
    return out


def section_problems(settings: Settings) -> list[str]:
    """Every `backends.<name>` section a plug-in brings, checked against that backend's own settings model."""
    problems: list[str] = []
    for name, raw in settings.backends.plugin_sections().items():
        cls = BACKENDS.get(name)
        if cls is None:
            problems.append(unknown_section(settings.source_file, "backends", name, sorted(BACKENDS)))
        else:
            problems += section_problems_of(settings.source_file, "backends", name, cls.settings_model, raw)
    if settings.backends.default not in BACKENDS:
        problems.append(
            f"{settings.source_file}: key backends.default: no ticket backend {settings.backends.default!r} "
            f"(known: {', '.join(sorted(BACKENDS))})"
        )
    return problems
