"""The surge window: it counts requests by when they arrived (the message's time, injected), per school."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.incidents.store import IncidentStore
from gateway.incidents.surge import SurgeDetector
from gateway.models import InboundMessage
from gateway.settings import Settings
from tests.support.redis_server import RedisServer

START = datetime(2026, 3, 9, 13, 0, tzinfo=UTC)


def clock() -> datetime:
    return START


def request(n: int, minutes: float, school: str = "lhs") -> InboundMessage:
    return InboundMessage(
        id=f"01M81EV6Y29MXDX1TSDB8K{n:04d}", channel="sms", account="+15550000000", sender=f"+1555010{n:04d}",
        text="Los Chromebooks no cargan Google Classroom", campus=school,
        received_at=START + timedelta(minutes=minutes),
    )  # fmt: skip


def detector(settings: Settings, redis_server: RedisServer) -> SurgeDetector:
    conf = settings.incidents.model_copy(update={"surge_threshold": 3, "surge_window_minutes": 15})
    tuned = settings.model_copy(update={"incidents": conf})
    client = redis_server.client()
    return SurgeDetector(client, tuned, IncidentStore(client))


def test_requests_spread_wider_than_the_window_make_no_proposal(settings: Settings, redis_server: RedisServer) -> None:
    surge = detector(settings, redis_server)
    assert [surge.observe(request(i, 10 * i), f"c{i}", clock) for i in range(5)] == [None] * 5


def test_requests_within_the_window_make_one_proposal_with_every_one_of_them(
    settings: Settings, redis_server: RedisServer
) -> None:
    surge = detector(settings, redis_server)
    results = [surge.observe(request(i, 4 * i), f"c{i}", clock) for i in range(4)]
    proposal = results[2]
    assert results[:2] == [None, None] and results[3] is None
    assert proposal is not None
    assert (proposal.state, proposal.opened_at, proposal.criteria.schools) == ("proposed", START, ("lhs",))
    assert set(proposal.criteria.keywords) == {"chromebooks", "cargan", "google", "classroom"}
    # The fourth request matched the proposal and joins it, to be linked when someone confirms.
    assert surge.store.candidates(proposal.id) == ["c0", "c1", "c2", "c3"]
