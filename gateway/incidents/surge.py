"""Surge detection: many similar requests from one school in a short time become a *proposed* incident.

Similar means the same school and either a shared keyword (after removing stop words) or the same
category. Each new request is counted in a sliding window per (school, keyword) and (school,
category); when one reaches `incidents.surge_threshold` within `incidents.surge_window_minutes`, a
proposal is stored with the requests that made it. A proposal links and messages nobody until an
operator confirms it (`intake incident confirm ID`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import redis
import regex

from gateway import keys
from gateway.incidents.match import Matcher, build_criteria, fold
from gateway.incidents.store import Incident, IncidentStore, State
from gateway.models import InboundMessage
from gateway.settings import Settings
from gateway.store.redis_conn import text

log = logging.getLogger("intake.incidents")

MAX_KEYWORDS = 12
ANY_SCHOOL = "*"
STATES_TO_CHECK: tuple[State, ...] = ("open", "proposed")

# Words every request uses (English and Spanish, accents folded): they say nothing about what is wrong.
STOP_WORDS = frozenset(
    """
    the and for are but not you all any can her was one our out his has had how its may new now see two who did
    get him let say she too use this that with have from they will what when where which while your about there
    their them then than been were would could should into only also some just like very more most other such
    here please thanks thank hello dear help today morning afternoon yesterday tomorrow school student students
    son daughter child children kid kids class room teacher again still does doesnt dont cant isnt wont working
    work problem issue request need needs know since after before because being every ever
    los las una uno unos unas del por con para que como mas pero sus este esta estos estas ese esa eso hay muy
    sin sobre entre cuando donde porque tambien ella ellos nos les fue son ser esta estan estamos tiene tienen
    hola gracias favor ayuda hoy manana ayer escuela estudiante hijo hija nino nina ninos clase salon maestro
    maestra todavia otra otro problema necesito
    """.split()  # noqa: SIM905 (a word list reads better as words)
)

_WORD = regex.compile(r"\p{L}[\p{L}\p{N}'-]*")


def keywords(subject: str, body: str) -> list[str]:
    """The distinct words of a request that could name its problem, in order of first use."""
    words = (w.strip("'-") for w in _WORD.findall(fold(f"{subject} {body}")))
    kept = [w for w in words if len(w) >= 3 and w not in STOP_WORDS]
    return list(dict.fromkeys(kept))[:MAX_KEYWORDS]


def signatures(m: InboundMessage) -> list[tuple[str, str, str]]:
    """(signature, kind, value) for each way this request can be similar to others; category first."""
    school = fold(m.campus or m.requester.campus or ANY_SCHOOL)
    out = []
    if m.category:
        out.append((f"{school}|category|{fold(m.category)}", "category", fold(m.category)))
    out.extend((f"{school}|keyword|{w}", "keyword", w) for w in keywords(m.subject, m.text))
    return out


class SurgeDetector:
    def __init__(self, client: redis.Redis, settings: Settings, store: IncidentStore) -> None:
        self.r = client
        self.store = store
        self.threshold = settings.incidents.surge_threshold
        self.window_s = settings.incidents.surge_window_minutes * 60
        self.timeout_s = settings.incidents.match_timeout_ms / 1000
        self.backend = settings.backends.default

    def observe(
        self,
        m: InboundMessage,
        conversation: str,
        now: Callable[[], datetime],
        known: dict[State, list[Incident]] | None = None,
    ) -> Incident | None:
        """Count a new request; return the proposal it completes, if it completes one.

        `known`: the open and proposed incidents, when the caller has just read them (IncidentStore.in_states)."""
        covering = self._covering(m, self.store.in_states(STATES_TO_CHECK) if known is None else known)
        if covering is not None:
            if covering.state == "proposed":
                self.store.add_candidates(covering.id, [conversation])  # confirmed later, told then
            return None
        sigs = signatures(m)
        if not sigs:
            return None
        at = m.received_at.timestamp()
        with self.r.pipeline() as pipe:
            for sig, _, _ in sigs:
                key = keys.surge_window(sig)
                pipe.zadd(key, {conversation: at})
                pipe.zremrangebyscore(key, "-inf", at - self.window_s)
                pipe.zcard(key)
                pipe.expire(key, self.window_s * 2)
            counts = pipe.execute()[2::4]
        hot = [(sig, kind, value) for (sig, kind, value), n in zip(sigs, counts, strict=True) if n >= self.threshold]
        if not hot:
            return None
        categories = [v for _, kind, v in hot if kind == "category"]
        words = [v for _, kind, v in hot if kind == "keyword"]
        sig = hot[0][0]
        if not self.r.set(keys.surge_proposed(sig), "1", nx=True, ex=self.window_s):
            return None
        school = sig.split("|", 1)[0]
        what = categories[0] if categories else ", ".join(words)
        criteria = build_criteria(
            categories=tuple(categories[:1]),
            keywords=() if categories else tuple(words),
            schools=() if school == ANY_SCHOOL else (school,),
        )
        members = [text(c) for c in self.r.zrange(keys.surge_window(sig), 0, -1)]
        opened = now()
        proposal = Incident(
            id=self.store.next_id(),
            title=f"{len(members)} requests about {what} at {school} within {self.window_s // 60} minutes",
            state="proposed",
            criteria=criteria,
            backend=self.backend,
            origin="surge",
            opened_at=opened,
            updated_at=opened,
        )
        self.store.add_candidates(proposal.id, members)
        self.store.save(proposal)
        self.r.incr(keys.INCIDENT_PROPOSALS_TOTAL)
        log.warning("surge: incident proposed", extra={"incident": proposal.id, "requests": len(members)})
        return proposal

    def _covering(self, m: InboundMessage, known: dict[State, list[Incident]]) -> Incident | None:
        """An open or proposed incident that already takes this request: a second proposal would only be noise."""
        for state in STATES_TO_CHECK:
            for inc in known.get(state, []):
                if state == "open" and not inc.links:
                    continue  # resolved: the same words again are a new problem
                if Matcher(inc.criteria, self.timeout_s).matches(m):
                    return inc
        return None
