"""What every backend shares: pacing across workers, and the mapping from our fields to a system's."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from gateway.models import InboundMessage, Priority, Requester, Route
from tests.support.redis_server import RedisServer
from workers.backends.mapping import FieldMap
from workers.backends.pacing import Pacer, PacingTimeout


def test_a_burst_is_served_and_then_calls_are_spaced_at_the_rate(redis_server: RedisServer) -> None:
    pacer = Pacer(redis_server.client(), "freshdesk", per_minute=600, burst=3)  # 10 a second
    assert [pacer.wait_s() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert 0.0 < pacer.wait_s() <= 0.1


def test_every_worker_draws_from_the_same_bucket(redis_server: RedisServer) -> None:
    one = Pacer(redis_server.client(), "zendesk", per_minute=60, burst=2)
    other = Pacer(redis_server.client(), "zendesk", per_minute=60, burst=2)
    assert one.wait_s() == 0.0 and other.wait_s() == 0.0
    assert one.wait_s() > 0.5  # the second worker took the last token


def test_take_waits_for_a_token_and_gives_up_past_its_limit(redis_server: RedisServer) -> None:
    pacer = Pacer(redis_server.client(), "rt", per_minute=600, burst=1)
    pacer.take()
    started = time.monotonic()
    pacer.take(max_wait_s=5)  # the next token comes within 0.1 s
    assert time.monotonic() - started < 5
    slow = Pacer(redis_server.client(), "redmine", per_minute=1, burst=1)
    slow.take()
    with pytest.raises(PacingTimeout):
        slow.take(max_wait_s=0.5)


def message(**extra: object) -> InboundMessage:
    fields: dict[str, object] = {"id": "m1", "channel": "sms", "account": "main", "sender": "+15555550123",
                                 "text": "bus", "campus": "lhs", "requester": Requester(campus="lhs")}  # fmt: skip
    return InboundMessage.model_validate({**fields, **extra})


def test_our_fields_become_the_systems_own_names() -> None:
    fmap = FieldMap(
        queue={"transportation": "Transportation"},
        priority={"high": 70},
        school={"lhs": "Lincoln High"},
        custom_fields={"school": "School", "language": "Language"},
    )
    got = fmap.mapped(Route(queue="transportation", priority=Priority.HIGH), message(language="es"))
    assert (got.queue, got.priority, got.school) == ("Transportation", 70, "Lincoln High")
    assert got.custom_fields == {"School": "Lincoln High", "Language": "es"}


def test_an_unmapped_value_passes_through_and_a_default_queue_catches_the_rest() -> None:
    assert FieldMap().mapped(Route(queue="hr"), message()).queue == "hr"
    fmap = FieldMap(queue={"it": "IT Help"}, default_queue="General")
    assert fmap.mapped(Route(queue="hr"), message()).queue == "General"


def test_a_custom_field_of_ours_that_does_not_exist_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="unknown field"):
        FieldMap(custom_fields={"shoe_size": "Shoe"})
