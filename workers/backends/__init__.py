"""The ticket backend registry: every ticket system module, listed explicitly.

Adding a backend is one module and one line here; the worker's queues, routing rules, incidents,
SLA rescheduling, the events webhook and status sync all loop over this dict.
"""

from __future__ import annotations

from typing import Any

from gateway.settings import Settings
from gateway.settings.plugins import section_problems as section_problems_of
from gateway.settings.plugins import unknown_section
from workers.backends.base import BackendClass, TicketBackend
from workers.backends.builtin import BuiltinBackend
from workers.backends.email_forward import EmailForwardBackend
from workers.backends.freshdesk import FreshdeskBackend
from workers.backends.redmine import RedmineBackend
from workers.backends.rt import RtBackend
from workers.backends.webhook import WebhookBackend
from workers.backends.zammad import ZammadBackend
from workers.backends.zendesk import ZendeskBackend

BACKENDS: dict[str, BackendClass] = {
    "builtin": BuiltinBackend,
    "webhook": WebhookBackend,
    "email": EmailForwardBackend,
    "rt": RtBackend,
    "redmine": RedmineBackend,
    "zammad": ZammadBackend,
    "freshdesk": FreshdeskBackend,
    "zendesk": ZendeskBackend,
}


def get_backend(name: str, settings: Settings) -> TicketBackend:
    try:
        cls = BACKENDS[name]
    except KeyError:
        raise LookupError(f"unknown ticket backend {name!r}; known: {sorted(BACKENDS)}") from None
    return cls.from_settings(settings)


def looks_up_status(name: str) -> bool:
    """Whether a family asking for their status is told what this system says now (a remote one that answers)."""
    cls = BACKENDS.get(name)
    return cls is not None and cls.remote and cls.answers_status


def enabled_backends(settings: Settings) -> dict[str, BackendClass]:
    """The backends the settings switch on (the built-in store always is)."""
    return {name: cls for name, cls in BACKENDS.items() if cls.enabled(settings)}


def mail_answering(settings: Settings) -> dict[str, TicketBackend]:
    """The enabled backends whose help desk answers by mail (to a relay address the mail poller reads), built."""
    return {name: cls.from_settings(settings) for name, cls in enabled_backends(settings).items()
            if "mail" in cls.status_source}  # fmt: skip


def sets_something(raw: Any) -> bool:
    """Whether a section says anything: config/gateway.yaml ships every system's section with `${VAR:-}` values."""
    if isinstance(raw, dict):
        return any(sets_something(v) for v in raw.values())
    if isinstance(raw, list):
        return any(sets_something(v) for v in raw)
    return raw not in ("", None)


def _off(settings: Settings, name: str, cls: BackendClass | None) -> str:
    hint = getattr(cls, "switch_on", "") or f"fill in its backends.{name} section"
    return f"the {name} backend is not switched on ({hint})"


def section_problems(settings: Settings) -> list[str]:
    """Every `backends.<name>` section a plug-in brings, checked against that backend's own settings model.

    A section for a system this installation has no module for is an error only when it sets something:
    the shipped file has an empty section for every system the gateway supports, ready to fill in.
    """
    problems: list[str] = []
    source = settings.source_file
    for name, raw in settings.backends.plugin_sections().items():
        cls = BACKENDS.get(name)
        if cls is None:
            if sets_something(raw):
                problems.append(unknown_section(source, "backends", name, sorted(BACKENDS)))
            continue
        found = section_problems_of(source, "backends", name, cls.settings_model, raw)
        problems += found
        if not found and cls.enabled(settings):
            problems += getattr(cls, "config_problems", lambda s: [])(settings)
    default = settings.backends.default
    if default not in BACKENDS:
        problems.append(
            f"{source}: key backends.default: no ticket backend {default!r} (known: {', '.join(sorted(BACKENDS))})"
        )
    elif not BACKENDS[default].enabled(settings):
        off = _off(settings, default, BACKENDS[default])
        problems.append(f"{source}: key backends.default (INTAKE_BACKEND): {off}")
    return problems
