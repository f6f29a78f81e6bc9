"""A ticket linked to an incident at the desk: the family is told once, on their own channel and in their language,
that their request is part of a known problem. Real web app, real rq workers (`intake worker --burst`), real Redis
and SQLite, Twilio's official SDK against its local stand-in.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rq import Queue
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from gateway import keys
from gateway.tickets import TicketStore
from tests.channels.twilio_support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PARENT,
    SPANISH,
    sms_gateway,
    text_in,
    texts,
    twilio_config,
    work,
)
from tests.support.gateway import intake, settings_from
from tests.support.redis_server import RedisServer
from tests.support.twilio_api import TwilioStandIn
from workers.desk_actions import DeskService

TITLE = "Autobuses tarde por la nieve"
SUMMARY = "Las calles ya se limpian."


def _quiet_now() -> str:
    now = datetime.now(UTC)
    return f"{(now - timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=1)):%H:%M}"


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[TwilioStandIn]:
    api = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN, tmp_path).start()
    yield api
    api.stop()


def _open_incident(config: Path) -> None:
    opened = intake(config, "incident", "open", "--title", TITLE, "--keyword", "quitanieves")
    assert opened.returncode == 0, opened.stderr
    update = intake(config, "incident", "update", "1", "--status", "in_progress", "--message", SUMMARY)
    assert update.returncode == 0, update.stderr


async def test_a_family_linked_at_the_desk_is_told_once_in_spanish_on_their_own_number(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    config = twilio_config(tmp_path, redis_server, standin)
    settings = settings_from(config)
    store = TicketStore.from_settings(settings)
    desk = DeskService(store, settings, redis_server.client())
    try:
        async with sms_gateway(config) as gw:
            await text_in(gw, "El autobús de mi hija no pasó esta mañana por la parada", To=SPANISH)
            work(config)
            _open_incident(config)  # the incident's parent is ticket #2; the family's request, #1, is not in it
            work(config)
            before = len(texts(standin))

            desk.link_incident(1, "1", "maria")
            work(config)
            told = texts(standin)[before:]
            assert [(t["To"], t["From"]) for t in told] == [(PARENT, SPANISH)]
            assert told[0]["Body"] == f'Su solicitud #1 es parte de un problema que ya atendemos: "{TITLE}". {SUMMARY}'

            # Linking again (at the desk and by `intake tickets link`), unlinking, and linking again tell nothing more.
            desk.link_incident(1, "1", "maria")
            linked = intake(config, "tickets", "link", "1", "--incident", "1")
            assert linked.returncode == 0, linked.stderr
            work(config)
            desk.link_incident(1, None, "maria")
            work(config)
            desk.link_incident(1, "#1", "maria")
            work(config)
            assert len(texts(standin)) == before + 1
            assert store.get(1).incident_id == "1"
            # Still linked: the incident's next update reaches them, as it does every child.
            update = intake(config, "incident", "update", "1", "--status", "resolved", "--message", "Todo en orden.")
            assert update.returncode == 0, update.stderr
            work(config)
            assert [t["Body"] for t in texts(standin)[before + 1 :]] == [
                f'Problema conocido "{TITLE}": resuelto. Todo en orden. (Solicitud #1)'
            ]
    finally:
        store.close()


async def test_the_word_of_a_desk_link_waits_out_quiet_hours_like_any_update(
    tmp_path: Path, redis_server: RedisServer, standin: TwilioStandIn
) -> None:
    config = twilio_config(tmp_path, redis_server, standin, quiet_hours=_quiet_now())
    settings = settings_from(config)
    store = TicketStore.from_settings(settings)
    desk = DeskService(store, settings, redis_server.client())
    r = redis_server.client()
    try:
        async with sms_gateway(config) as gw:
            await text_in(gw, "El autobús de mi hija no pasó esta mañana por la parada", To=SPANISH)
            work(config)
            _open_incident(config)
            before = len(texts(standin))  # the acknowledgement went at once: it is never held
            desk.link_incident(1, "1", "maria")
            work(config)
            assert len(texts(standin)) == before
            held = ScheduledJobRegistry(queue=Queue("replies", connection=r, serializer=JSONSerializer)).get_job_ids()
            assert [h for h in held if "incident-linked-1-" in h and h.endswith("-held")] != []
            conv = store.get(1).conversation
            assert r.sismember(keys.deliveries(conv), "incident-told-1")  # told, at the morning's run: not again
    finally:
        store.close()
