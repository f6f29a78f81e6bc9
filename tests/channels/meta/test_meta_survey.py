"""Surveys on Messenger and WhatsApp: asked free-form within Meta's 24-hour window, else skipped and recorded so,
never sent as a template, with a tag, or by another channel."""

from __future__ import annotations

import json
import time
from pathlib import Path

from gateway import keys
from tests.channels.meta_support import fb_text, messenger, meta_config, meta_gateway, wa_text, whatsapp, work
from tests.channels.twilio_support import twilio_settings
from tests.support.gateway import intake
from tests.support.meta_api import MetaStandIn
from tests.support.redis_server import RedisServer
from tests.support.twilio_api import TwilioStandIn

HOURS = 3600
TEMPLATES = {"csat": {"en": {"name": "survey", "language": "en_US", "parameters": ["ticket", "text"]}}}


def survey(redis_server: RedisServer) -> tuple[str, dict[str, str]]:
    r = redis_server.client()
    [key] = [k.decode() for k in r.scan_iter(keys.survey("*"))]
    return key.rsplit(":", 1)[1], {k.decode(): v.decode() for k, v in r.hgetall(key).items()}


def resolve(config: Path) -> None:
    assert intake(config, "tickets", "update", "1", "--status", "resolved", "--comment", "Fixed.").returncode == 0
    work(config)


async def test_within_the_window_the_survey_goes_on_messenger_with_its_five_links(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn
) -> None:
    config = meta_config(tmp_path, redis_server, meta_api, surveys={"enabled": True})
    async with meta_gateway(config) as gw:
        assert (await gw.post(messenger(fb_text("The projector in room 4 is broken"))))[0] == 200
    work(config)
    resolve(config)
    text = meta_api.sends("messenger")[-1].body["message"]["text"]
    assert "How did we do?" in text
    assert text.count("/survey/") == 5
    assert survey(redis_server)[1]["channels"] == "messenger"


async def test_outside_the_window_the_survey_is_skipped_and_the_skip_recorded(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn
) -> None:
    config = meta_config(tmp_path, redis_server, meta_api, surveys={"enabled": True})
    async with meta_gateway(config) as gw:
        written = time.time() - 30 * HOURS  # Meta retried the webhook for a day
        assert (await gw.post(messenger(fb_text("The projector in room 4 is broken", at=written))))[0] == 200
    work(config)
    resolve(config)
    conv, stored = survey(redis_server)
    assert stored["state"] == "skipped"
    assert json.loads(stored["skipped"]) == {"messenger": "outside Meta's 24-hour messaging window"}
    assert not any("/survey/" in json.dumps(s.body) for s in meta_api.sends())
    timeline = [json.loads(e) for e in redis_server.client().lrange(keys.timeline(conv), 0, -1)]
    assert [e["reasons"] for e in timeline if e["event"] == "survey_skipped"] == [
        {"messenger": "outside Meta's 24-hour messaging window"}
    ]


async def test_outside_the_window_a_whatsapp_survey_takes_neither_a_template_nor_a_text(
    tmp_path: Path, redis_server: RedisServer, meta_api: MetaStandIn, standin: TwilioStandIn
) -> None:
    config = meta_config(tmp_path, redis_server, meta_api, meta={"templates": TEMPLATES},
                         channels={"twilio": twilio_settings(standin)}, surveys={"enabled": True})  # fmt: skip
    async with meta_gateway(config) as gw:
        assert (await gw.post(whatsapp(wa_text("My laptop does not charge", at=time.time() - 30 * HOURS))))[0] == 200
    work(config)
    sent_before = (len(meta_api.sends()), len(standin.created()))
    resolve(config)
    _, stored = survey(redis_server)
    assert json.loads(stored["skipped"]) == {"whatsapp": "outside Meta's 24-hour messaging window"}
    texts = [r.form["Body"] for r in standin.created()]
    assert not any("Reply 1" in t for t in texts)
    assert not any("survey" in json.dumps(s.body) for s in meta_api.sends()[sent_before[0] :])
