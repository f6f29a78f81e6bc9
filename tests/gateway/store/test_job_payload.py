"""The deliver job's data leaves nulls out; the worker must read back exactly what was committed."""

from __future__ import annotations

import typing

import redis.asyncio as aioredis
from pydantic import BaseModel
from rq.job import Job
from rq.serializers import JSONSerializer

from gateway.ids import new_id
from gateway.models import (
    Attachment,
    Commitment,
    Flags,
    InboundMessage,
    Requester,
    Route,
    ThreadHints,
)
from gateway.settings import Settings
from gateway.store.commit import Committer
from gateway.store.queues import deliver_job_id
from tests.support.redis_server import RedisServer


def models_in(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[type[BaseModel]]:
    seen = set() if seen is None else seen
    if model in seen:
        return seen
    seen.add(model)
    for field in model.model_fields.values():
        for t in (field.annotation, *typing.get_args(field.annotation)):
            for inner in (t, *typing.get_args(t)):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    models_in(inner, seen)
    return seen


def test_every_nullable_field_of_a_job_defaults_to_none() -> None:
    """Otherwise a None left out of the job would come back as the field's other default."""
    found = models_in(Commitment)
    assert {m.__name__ for m in found} >= {"InboundMessage", "Requester", "Attachment", "ThreadHints", "Route"}
    wrong = []
    for model in found:
        for name, field in model.model_fields.items():
            # A nullable field that is required, has a factory or another default would not come back as None.
            if type(None) in typing.get_args(field.annotation) and field.default is not None:
                wrong.append(f"{model.__name__}.{name}")
    assert wrong == []


def commitments() -> list[Commitment]:
    bare = InboundMessage(id=new_id(), channel="sms", account="main", sender="+15550100", text="hi")
    full = InboundMessage(
        id=new_id(),
        channel="email",
        account="help",
        provider_id="<a@b>",
        sender="ana@example.org",
        requester=Requester(display_name="Ana", email="ana@example.org", phone="+15550101", locale="es",
                            campus="lhs", campuses=("lhs", "ms"), directory_id="d-1", handles={"slack": "U1"}),
        subject="Bus",
        text="The bus",
        full_text="The bus did not come",
        language="es",
        language_source="detected",
        category="transportation",
        campus="lhs",
        attachments=(Attachment(filename="a.png", content_type="image/png", size=3, sha256="x", storage_key="k"),
                     Attachment(filename="b", content_type="audio/wav", size=0, sha256="", kept=False,
                                reason="being fetched", source_url="https://api.twilio.com/x")),
        thread_hints=ThreadHints(in_reply_to="<p@q>", references=("<p@q>",), thread_ts="1.2", conversation_id="C1",
                                 subject_token="T", reply_token="R", force_new=True),
        flags=Flags(auto_reply=True),
        raw_ref="blob:1",
    )  # fmt: skip
    route = Route(queue="transport", category="transportation", tags=("bus",), assignee_group="g",
                  sla_policy="standard", incident_id="i-1", rule_ids=("r1",))  # fmt: skip
    return [
        Commitment(message=bare, fingerprint="f" * 40, conversation=bare.id, route=Route()),
        Commitment(message=full, fingerprint="e" * 40, conversation=new_id(), route=route, evidence="reply_token"),
    ]


async def test_the_worker_reads_back_exactly_the_committed_message(
    settings: Settings, redis_server: RedisServer
) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        committed = commitments()
        await Committer(client, settings).commit(committed)
    finally:
        await client.aclose()
    sync = redis_server.client()
    for c in committed:
        job = Job.fetch(deliver_job_id(c.fingerprint), connection=sync, serializer=JSONSerializer)
        raw = sync.hget(job.key, "data")
        assert raw is not None and b":null" not in raw  # the nulls were left out...
        assert Commitment.model_validate(job.args[0]) == c  # ...and the worker gets them back
