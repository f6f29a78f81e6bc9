"""Which ticket system a request goes to: the systems the environment alone switches on, the default that
INTAKE_BACKEND names, and a routing rule's `backend:` choosing another system for some requests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gateway.settings import load_settings
from tests.channels.twilio_support import PUBLIC, sms_gateway, text_in, tickets, twilio_settings, work
from tests.support.gateway import REPO, write_config
from tests.support.redis_server import RedisServer
from tests.support.twilio_api import TwilioStandIn
from tests.support.webhook_receiver import WebhookReceiver
from tests.workers.backends.rt_support import new_phone
from tests.workers.backends.webhook_support import webhook_section
from workers.backends import enabled_backends, section_problems

SHIPPED = REPO / "config" / "gateway.yaml"
WEBHOOK_ENV = {"INTAKE_WEBHOOK_URL": "https://desk.district.example.org/intake", "INTAKE_WEBHOOK_SECRET": "s3cr3t-hex"}
RT_LOGIN_ENV = {"RT_URL": "https://rt.district.example.org/", "RT_USER": "intake", "RT_PASSWORD": "pw-1",
                "RT_QUEUE": "General"}  # fmt: skip
FORWARD_ENV = {"FORWARD_TO": "helpdesk@desk.example.com"}


@pytest.mark.parametrize(
    ("system", "env"),
    [("webhook", WEBHOOK_ENV), ("rt", RT_LOGIN_ENV), ("email", FORWARD_ENV)],
    ids=["webhook url and secret", "rt user and password", "email forward_to"],
)
def test_the_shipped_config_switches_a_system_on_from_the_environment_alone(system: str, env: dict[str, str]) -> None:
    assert system not in enabled_backends(load_settings(SHIPPED, env={}))
    assert system in enabled_backends(load_settings(SHIPPED, env=env))
    for missing in env:  # each of its variables is needed: without one the system stays off
        partial = {k: v for k, v in env.items() if k != missing}
        assert system not in enabled_backends(load_settings(SHIPPED, env=partial)), missing


def test_rt_without_a_queue_stops_the_gateway_naming_rt_queue() -> None:
    settings = load_settings(SHIPPED, env={k: v for k, v in RT_LOGIN_ENV.items() if k != "RT_QUEUE"})
    [problem] = section_problems(settings)
    assert "key backends.rt" in problem and "queue (RT_QUEUE) is empty" in problem
    by_token = load_settings(SHIPPED, env={"RT_URL": RT_LOGIN_ENV["RT_URL"], "RT_TOKEN": "1-14-abc"})
    assert section_problems(by_token) != []  # a token instead of a login changes nothing: the queue is needed


def test_intake_backend_names_the_default_and_only_a_system_that_is_switched_on() -> None:
    assert load_settings(SHIPPED, env={}).backends.default == "builtin"
    chosen = load_settings(SHIPPED, env={**WEBHOOK_ENV, "INTAKE_BACKEND": "webhook"})
    assert chosen.backends.default == "webhook" and section_problems(chosen) == []
    off = load_settings(SHIPPED, env={"INTAKE_BACKEND": "webhook"})
    [problem] = section_problems(off)
    assert "key backends.default (INTAKE_BACKEND)" in problem and "INTAKE_WEBHOOK_URL" in problem


RULES = """\
rules:
  - id: buses-to-transport-desk
    when:
      keywords: [autobús, bus]
    then:
      queue: transportation
      backend: webhook
"""


async def test_a_rule_sends_its_requests_to_its_backend_and_their_follow_ups_stay_on_that_ticket(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn, receiver: WebhookReceiver
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(textwrap.dedent(RULES))
    config = write_config(
        tmp_path, redis_server.url, server={"public_base_url": PUBLIC}, routing={"rules_file": str(rules)},
        channels={"twilio": twilio_settings(standin)},
        backends={"default": "builtin", "webhook": webhook_section(receiver)},
    )  # fmt: skip
    bus_parent, laptop_parent = new_phone(), new_phone()
    async with sms_gateway(config) as gw:
        await text_in(gw, "El autobús 12 no pasó hoy", From=bus_parent)
        await text_in(gw, "My son's laptop will not turn on", From=laptop_parent)
        work(config)
        # The follow-up matches no rule: it still belongs to the ticket its conversation has, in the webhook's system.
        await text_in(gw, "Llegó 40 minutos tarde", From=bus_parent)
        work(config)
    [created] = receiver.calls("ticket.create")
    assert created.body["text"] == "El autobús 12 no pasó hoy" and created.body["queue"] == "transportation"
    [ref] = receiver.tickets
    assert [c["text"] for c in receiver.comments(ref)] == ["Llegó 40 minutos tarde"]
    [kept] = tickets(config)  # the built-in store, the default, has only the request no rule sent elsewhere
    assert (kept["channel"], kept["requester_phone"]) == ("sms", laptop_parent)
