"""A web form request taken to its resolution, and what its survey left in Redis."""

from __future__ import annotations

import json
from pathlib import Path

from gateway import keys
from gateway.models import Reply
from tests.conftest import Gateway, form
from tests.support.gateway import intake
from tests.support.redis_server import RedisServer


def work(config: Path) -> None:
    result = intake(config, "worker", "--burst")
    assert result.returncode == 0, result.stderr[-3000:]


async def resolved(gateway: Gateway, config: Path, ticket: str = "1", **fields: object) -> str:
    """A web form request made ticket `ticket` (the next one's number) and resolved; returns its conversation."""
    resp = await gateway.post_form(form(**fields))
    assert resp.status == 202
    conv = str((await resp.json())["request_id"])
    work(config)
    done = intake(config, "tickets", "update", ticket, "--status", "resolved", "--comment", "The route is fixed.")
    assert done.returncode == 0, done.stderr
    work(config)
    return conv


def survey(redis_server: RedisServer, conv: str) -> dict[str, str]:
    raw = redis_server.client().hgetall(keys.survey(conv))
    return {k.decode(): v.decode() for k, v in raw.items()}


def parked(redis_server: RedisServer, channel: str, event: str = "csat") -> list[Reply]:
    """The replies waiting on a channel's outbound list (no sender for it runs in the tests' workers)."""
    raw = redis_server.client().lrange(keys.pending_outbound(channel), 0, -1)
    return [r for r in (Reply.model_validate(json.loads(x)["reply"]) for x in raw) if r.event == event]


def timeline(redis_server: RedisServer, conv: str) -> list[dict[str, object]]:
    return [json.loads(e) for e in redis_server.client().lrange(keys.timeline(conv), 0, -1)]


def link_paths(reply: Reply) -> dict[int, str]:
    """rating -> the path of its link, from a survey's text (`5 - Very good: http://.../survey/...`)."""
    out = {}
    for line in reply.text.splitlines():
        head, sep, url = line.partition(": http")
        if sep and "/survey/" in url:
            out[int(head.split(" ", 1)[0])] = "/survey/" + url.split("/survey/", 1)[1]
    return out
