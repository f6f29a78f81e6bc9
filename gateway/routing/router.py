"""Routing: the operators' rules (config/rules.yaml) applied to every message on the request path.

The Router holds a compiled rule set and the current ad-hoc closures in memory, so `route` does no
I/O. A background task (`refresh_forever`) looks for a changed rules file and new closures every
`routing.reload_interval_s`: a valid change replaces the rules at once, an invalid one is logged
and the previous rules keep running.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import date, datetime
from pathlib import Path

import redis
import redis.asyncio as aioredis

from gateway.calendars.closures import closures_async
from gateway.models import KNOWN_CHANNELS, InboundMessage, Route
from gateway.outbox.templating import TEMPLATE_DIR
from gateway.routing.conditions import OneOf
from gateway.routing.engine import Decision, evaluate
from gateway.routing.loader import RulesError, load_rules
from gateway.routing.model import RuleSet
from gateway.settings import Settings
from gateway.tasks import being_cancelled, stop_if_cancelled

log = logging.getLogger("intake.rules")


def known_backends(settings: Settings) -> set[str]:
    """The backends a rule may name: those the settings switch on (a rule naming one that is off would strand
    its requests on a queue nothing delivers)."""
    from workers.backends import enabled_backends  # the registry decides; routing must not need it to load first

    return set(enabled_backends(settings))


def known_channels() -> set[str]:
    """The channel names a rule may test: those this release plans, and every channel in the registry."""
    from channels import CHANNELS  # the registry names them; routing must not need the channels to load first

    return set(KNOWN_CHANNELS) | set(CHANNELS)


def load_ruleset(settings: Settings) -> RuleSet:
    """Load the configured rules file. Raises RulesError (a ConfigError) naming file, line, rule and field."""
    return load_rules(
        settings.routing.rules_path(settings.source_file),
        zone=settings.zone,
        backends=known_backends(settings),
        templates=TEMPLATE_DIR,
        channels=known_channels(),
    )


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class Router:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.backend = settings.backends.default
        self.path = settings.routing.rules_path(settings.source_file)
        self._stamp = _stamp(self.path)
        # Whether a rule routes on the text's language, so intake must detect it before routing.
        self.needs_language = False
        self.rules = load_ruleset(settings)
        self.closures: frozenset[date] = frozenset()

    @property
    def rules(self) -> RuleSet:
        return self._rules

    @rules.setter
    def rules(self, rules: RuleSet) -> None:
        self._rules = rules
        # Asked for every message on the request path, so answered once per rule set.
        self.needs_language = any(
            isinstance(c, OneOf) and c.field == "language" for rule in rules.rules for c in rule.conditions
        )

    def route(self, message: InboundMessage) -> Route:
        """The route for a message, on the request path: in memory only."""
        return self.decide(message).route

    def decide(self, message: InboundMessage, now: datetime | None = None) -> Decision:
        """The route and which rules produced it, with why (for `intake rules test`)."""
        return evaluate(self.rules, message, self.backend, self.closures, now)

    def reload_if_changed(self) -> bool:
        """Load the rules file again if it changed. True when new rules are in force."""
        stamp = _stamp(self.path)
        if stamp is None or stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            rules = load_ruleset(self.settings)
        except RulesError as exc:
            for problem in exc.problems:
                log.error("rules file not reloaded: %s", problem)
            log.error("the previous rules stay in force", extra={"rules": len(self.rules.rules)})
            return False
        self.rules = rules
        log.info("rules reloaded", extra={"rules": len(rules.rules)})
        return True


async def refresh_forever(router: Router, client: aioredis.Redis, interval_s: float) -> None:
    """Keep the router's rules and closures current. Runs until cancelled; never lets an error stop it."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            await loop.run_in_executor(None, router.reload_if_changed)
            router.closures = frozenset(await closures_async(client))
        except Exception as exc:
            # redis-py may report our own cancellation as a ConnectionError: stop, as asked.
            if being_cancelled():
                raise asyncio.CancelledError from exc
            # Redis away, or the rules file unreadable for a moment: the rules and closures we knew stay in force.
            if not isinstance(exc, redis.RedisError | OSError):
                log.warning("rules refresh failed", extra={"error": type(exc).__name__})
        stop_if_cancelled()
        await asyncio.sleep(interval_s)
