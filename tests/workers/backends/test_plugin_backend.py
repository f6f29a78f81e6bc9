"""A ticket backend is one module and one registry line: a toy help desk, registered here only, gets the
requests routed to it, links, statuses and due times through the protocol, and its webhook at
POST /backends/toy/events tells the family (verified, idempotent on its delivery id). No other change."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from gateway import keys
from gateway.cli.main import main
from gateway.errors import BadRequest, Unauthorized
from gateway.models import Commitment, StatusEvent, TicketStatus
from gateway.server.http import InboundRequest
from gateway.settings import Settings
from tests.conftest import Gateway, form, start_gateway
from tests.support.gateway import OPERATOR, OPERATOR_TOKEN, intake, settings_from, write_config
from tests.support.inprocess import work_here
from tests.support.redis_server import RedisServer
from workers import backends, context
from workers.backends.base import BaseBackend, StatusSource

SECRET = "toy-webhook-secret"


class ToySettings(BaseModel):
    secret: str


class ToyDesk(BaseBackend):
    """A help desk that keeps its tickets in memory and signs its webhooks with HMAC-SHA256 over the body."""

    name = "toy"
    status_source: ClassVar[frozenset[StatusSource]] = frozenset({"webhook"})
    settings_model = ToySettings
    tickets: ClassVar[dict[str, dict[str, Any]]] = {}
    by_key: ClassVar[dict[str, str]] = {}

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()

    @classmethod
    def from_settings(cls, settings: Settings) -> ToyDesk:
        return cls(ToySettings.model_validate(settings.backends.section("toy")).secret)

    def create_ticket(self, commitment: Commitment, idempotency_key: str) -> str:
        if idempotency_key not in self.by_key:
            ref = f"T-{len(self.tickets) + 1}"
            self.tickets[ref] = {"subject": commitment.message.subject, "comments": [], "status": "new", "due": {}}
            self.by_key[idempotency_key] = ref
        return self.by_key[idempotency_key]

    def add_comment(self, ref: str, commitment: Commitment, idempotency_key: str, *, public: bool = True) -> str:
        self.tickets[ref]["comments"].append((commitment.message.text, public))
        return f"{ref}-c{len(self.tickets[ref]['comments'])}"

    def link_child(self, parent_ref: str, child_ref: str) -> None:
        self.tickets[child_ref]["parent"] = parent_ref

    def fetch_status(self, ref: str) -> TicketStatus:
        return TicketStatus(self.tickets[ref]["status"])

    def set_status(self, ref: str, status: TicketStatus, comment: str | None, actor: str, idempotency_key: str) -> None:
        self.tickets[ref]["status"] = status.value

    def set_due(self, ref: str, kind: str, due: datetime) -> None:
        self.tickets[ref]["due"][kind] = due

    def webhook_events(self, req: InboundRequest) -> list[StatusEvent]:
        expected = hmac.new(self.secret, req.raw_body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest((req.header("x-toy-signature") or "").encode(), expected.encode()):
            raise Unauthorized("bad toy signature")
        try:
            body = json.loads(req.raw_body)
            return [StatusEvent(backend="toy", ticket_ref=body["ticket"], status=TicketStatus(body["status"]),
                                public_comment=body.get("comment"), delivery_id=body["delivery"])]  # fmt: skip
        except (ValueError, KeyError) as exc:
            raise BadRequest(f"not a toy event: {exc}") from None


@pytest.fixture
def toy_registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(backends.BACKENDS, "toy", ToyDesk)
    ToyDesk.tickets.clear()
    ToyDesk.by_key.clear()
    yield


# Always open, so that any request's resolution clock runs through tomorrow.
RULES = """
calendars:
  always: {hours: {mon-sun: "00:00-24:00"}}
sla_policies:
  standard: {calendar: always, normal: {first_response: 8h, resolution: 40h}}
defaults: {sla: standard}
"""


@pytest.fixture
def toy_config(tmp_path: Path, redis_server: RedisServer, toy_registered: None) -> Path:
    (tmp_path / "rules.yaml").write_text(RULES)
    routing = {"rules_file": str(tmp_path / "rules.yaml")}
    toy = {"default": "toy", "toy": {"secret": SECRET}}
    server = {"operator_token": OPERATOR_TOKEN}  # /readyz's detail is the operator's
    return write_config(tmp_path, redis_server.url, timezone="UTC", routing=routing, backends=toy, server=server)


@pytest.fixture
async def toy_gateway(toy_config: Path) -> AsyncIterator[Gateway]:
    settings = settings_from(toy_config)
    server, http = await start_gateway(settings)
    yield Gateway(server, http, settings)
    await http.close()
    await server.close()


async def toy_event(gw: Gateway, body: dict[str, str], secret: str = SECRET) -> int:
    raw = json.dumps(body).encode()
    signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    async with gw.http.post(gw.base + "/backends/toy/events", data=raw, headers={"X-Toy-Signature": signature}) as r:
        await r.read()
        return r.status


def timeline(redis_server: RedisServer, request_id: str) -> list[dict[str, Any]]:
    r = redis_server.client()
    conv = r.hget(keys.request(request_id), "conversation")
    assert conv is not None
    return [json.loads(x) for x in r.lrange(keys.timeline(conv.decode()), 0, -1)]


async def test_requests_routed_to_a_registered_backend_become_its_tickets(toy_gateway: Gateway) -> None:
    resp = await toy_gateway.post_form(form(message="The bus did not come."))
    assert resp.status == 202
    work_here(toy_gateway.settings)
    assert [t["subject"] for t in ToyDesk.tickets.values()] == ["Autobuses y transporte"]


async def test_its_webhook_tells_the_family_once_however_often_it_is_delivered(
    toy_gateway: Gateway, redis_server: RedisServer
) -> None:
    rid = (await (await toy_gateway.post_form(form(language="en"))).json())["request_id"]
    work_here(toy_gateway.settings)
    event = {"ticket": "T-1", "status": "resolved", "comment": "Route 4 is back.", "delivery": "d-1"}
    assert [await toy_event(toy_gateway, event) for _ in range(3)] == [200, 200, 200]
    work_here(toy_gateway.settings)
    replies = [e for e in timeline(redis_server, rid) if e["event"] == "reply"]
    assert [e["reply_event"] for e in replies] == ["received", "resolved"]
    assert "Route 4 is back." in replies[-1]["text"]


async def test_a_webhook_with_a_bad_signature_is_refused_and_changes_nothing(
    toy_gateway: Gateway, redis_server: RedisServer
) -> None:
    await toy_gateway.post_form(form())
    work_here(toy_gateway.settings)
    event = {"ticket": "T-1", "status": "resolved", "delivery": "d-2"}
    assert await toy_event(toy_gateway, event, secret="forged") == 401
    assert redis_server.client().keys("rq:job:event-*") == []


async def test_a_backend_without_webhooks_has_no_events_route(gateway: Gateway) -> None:
    async with gateway.http.post(gateway.base + "/backends/builtin/events", data=b"{}") as r:
        assert r.status == 404


def run(config: Path, *args: str) -> str:
    """An operator's command, in this process: the toy backend is registered only here."""
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    context.configure(settings_from(config))  # drop the clients the command built
    assert result.exit_code == 0, result.output
    return result.output


async def test_an_incident_links_and_updates_a_registered_backends_tickets_through_the_protocol(
    toy_gateway: Gateway, toy_config: Path
) -> None:
    assert run(toy_config, "incident", "open", "--title", "Buses late", "--keyword", "bus").startswith(
        "incident 1 open (parent ticket #T-1)"
    )
    await toy_gateway.post_form(form(message="The bus did not come."))
    await toy_gateway.post_form(form(message="My locker is stuck.", email="ben@example.org"))
    work_here(toy_gateway.settings)
    assert {ref: t.get("parent") for ref, t in ToyDesk.tickets.items()} == {"T-1": None, "T-2": "T-1", "T-3": None}
    run(toy_config, "incident", "update", "1", "--status", "resolved", "--message", "Buses run again.")
    work_here(toy_gateway.settings)
    assert {ref: t["status"] for ref, t in ToyDesk.tickets.items()} == {"T-1": "resolved", "T-2": "resolved",
                                                                       "T-3": "new"}  # fmt: skip


async def test_a_closure_moves_the_due_times_of_a_registered_backends_tickets_through_the_protocol(
    toy_gateway: Gateway, toy_config: Path, redis_server: RedisServer
) -> None:
    rid = (await (await toy_gateway.post_form(form())).json())["request_id"]
    work_here(toy_gateway.settings)
    assert ToyDesk.tickets["T-1"]["due"] == {}
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert "open response clock(s) moved" in run(
        toy_config, "calendar", "close", "--date", tomorrow, "--reason", "Snow"
    )
    due = redis_server.client().zscore(keys.SLA_DUE, f"resolution|transportation|normal|{rid}")
    assert due is not None
    assert ToyDesk.tickets["T-1"]["due"]["resolution"] == datetime.fromtimestamp(due, UTC)


class LocalDesk(ToyDesk):
    """The toy's tickets kept beside the gateway, as the built-in store keeps its own: nothing outside to be down."""

    remote = False


@pytest.mark.parametrize(("desk", "shown"), [(ToyDesk, {"toy": {"ok": True, "state": "up", "problem": ""}}),
                                             (LocalDesk, None)])  # fmt: skip
async def test_readyz_shows_the_outage_circuit_of_a_plug_in_that_is_a_remote_system_only(
    toy_config: Path, monkeypatch: pytest.MonkeyPatch, desk: type[ToyDesk], shown: dict[str, Any] | None
) -> None:
    monkeypatch.setitem(backends.BACKENDS, "toy", desk)
    server, http = await start_gateway(settings_from(toy_config))
    try:
        async with http.get(server.make_url("/readyz"), headers=OPERATOR) as resp:
            ready = await resp.json()
    finally:
        await http.close()
        await server.close()
    assert ready["status"] == "ok"
    assert ready.get("backends") == shown


def test_check_config_checks_a_plug_in_backends_own_section(tmp_path: Path, redis_server: RedisServer) -> None:
    config = write_config(tmp_path, redis_server.url, backends={"toy": {"secret": SECRET}})
    out = intake(config, "check-config")  # a new process: the toy is not registered there
    assert out.returncode == 2
    known = ", ".join(sorted(backends.BACKENDS))  # the registry of that process: the toy is not in it
    assert f"{config}: key backends.toy: no such backend (check the spelling; known: {known})" in out.stderr
