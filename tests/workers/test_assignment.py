"""Balancing an assignee group against a real Redis: fewest open tickets, people away, nobody available."""

from __future__ import annotations

from gateway import keys
from gateway.routing.model import Group
from tests.support.redis_server import RedisServer
from workers.routing_stage import pick_assignee


def test_fewest_open_picks_the_least_loaded_member_and_counts_the_new_ticket(redis_server: RedisServer) -> None:
    r = redis_server.client()
    group = Group("techs", ("ana", "ben", "chen"), "fewest_open")
    r.hset(keys.assign_open("techs"), mapping={"ana": 3, "ben": 1, "chen": 2})
    assert pick_assignee(r, group) == "ben"
    assert pick_assignee(r, group) == "ben"  # 2 now, tied with chen: the first listed wins
    assert pick_assignee(r, group) == "chen"
    assert r.hgetall(keys.assign_open("techs")) == {b"ana": b"3", b"ben": b"3", b"chen": b"3"}


def test_fewest_open_skips_someone_away_even_with_no_tickets(redis_server: RedisServer) -> None:
    r = redis_server.client()
    r.sadd(keys.ASSIGN_AWAY, "ben")
    group = Group("techs", ("ana", "ben"), "fewest_open")
    r.hset(keys.assign_open("techs"), mapping={"ana": 5})
    assert pick_assignee(r, group) == "ana"


def test_a_group_with_everyone_away_leaves_the_ticket_unassigned(redis_server: RedisServer) -> None:
    r = redis_server.client()
    r.sadd(keys.ASSIGN_AWAY, "ana", "ben")
    assert pick_assignee(r, Group("techs", ("ana", "ben"))) is None
    assert r.exists(keys.assign_open("techs")) == 0
