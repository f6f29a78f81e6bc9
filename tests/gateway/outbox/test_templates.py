"""Every reply template renders, in every language, with no placeholder left and nothing empty."""

from __future__ import annotations

import re
from itertools import product

import jinja2
import pytest

from gateway.intake.languages import REPLY_LANGUAGES
from gateway.outbox.templating import TEMPLATE_DIR, TemplateMissing, render_reply, reply_env
from normalizers.email_language import detect_language

# Discovered from the tree, not listed: a channel's templates merged from another branch are checked too.
EVENTS = sorted(p.name for p in TEMPLATE_DIR.iterdir() if p.is_dir() and p.name != "pages")
CHANNELS = sorted({f.name.split(".", 1)[0] for e in EVENTS for f in (TEMPLATE_DIR / e).glob("*.j2")})
LANGUAGES = list(REPLY_LANGUAGES)
STATUSES = ["new", "open", "in_progress", "waiting", "resolved", "closed"]
NO_TICKET_EVENTS = {"opted_out", "help"}  # about the channel, not about one request
# Events that only some channels have (the STATUS keyword: SMS, and the plain words the chat channels read);
# every other event is on every channel.
CHANNEL_EVENTS = {"status_report": {"sms", "plain"}, "csat_answer": {"sms"}}
# Channels that write no templates of their own: they read the plain ones for every event, STATUS's answer included.
PLAIN_READERS = ("messenger", "instagram", "whatsapp", "x")
CASES = [
    (e, c, lang)
    for e, c, lang in product(EVENTS, CHANNELS, LANGUAGES)
    if e not in CHANNEL_EVENTS or c in CHANNEL_EVENTS[e]
]

CONTEXT = {
    "ticket": "1234",
    "reference": "K7QM-2XPA",
    "status_url": "https://help.example.org/status/abc.def",
    "status": "in_progress",
    "comment": "A technician is on the way.",
    "incident_title": "Wi-Fi outage at Lincoln High",
    "next_open": "Tuesday 7:30",
    "first_response_due": "Tuesday 10:00",
    "form_url": "https://help.example.org/form",
    "evidence": "new",
    "requests": [{"ticket": "1234", "status": "in_progress"}],
    "rating_links": [{"rating": n, "url": f"https://help.example.org/survey/c.{n}.1.s"} for n in (5, 4, 3, 2, 1)],
    "survey_days": 7,
    "answer": "rated",
    "chars": 1000,
}
OPTIONAL = (
    "next_open",
    "first_response_due",
    "form_url",
)  # templates test `is defined`: a caller without them still gets a reply
LEFTOVER = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")


def test_the_tree_has_the_events_and_channels_replies_need() -> None:
    assert {"received", "status_changed", "resolved", "after_hours", "opted_out", "help", "incident_update"} <= set(
        EVENTS
    )
    assert {"webform", "email"} <= set(CHANNELS)


@pytest.mark.parametrize(("event", "channel", "language"), CASES)
def test_every_event_has_every_language_for_every_channel(event: str, channel: str, language: str) -> None:
    assert (TEMPLATE_DIR / event / f"{channel}.{language}.j2").exists()
    for context in (CONTEXT, {k: v for k, v in CONTEXT.items() if k not in OPTIONAL}):
        rendered = render_reply(reply_env(), event, channel, language, "en", context)
        assert rendered.language == language
        assert rendered.text
        assert not LEFTOVER.search(rendered.text + rendered.subject)
        if channel == "email":
            assert rendered.subject
            assert ("[#1234]" in rendered.subject) == (event not in NO_TICKET_EVENTS)
    # The words are in the file's language (a copy of the English file would fail here); the staff's
    # comment and the incident's title are left out, since they are in whatever language staff wrote.
    rendered = render_reply(
        reply_env(), event, channel, language, "en", {**CONTEXT, "comment": "", "incident_title": "Wi-Fi"}
    )
    prose = re.sub(r"https?://\S+|START|STOP|911|#\d+", " ", rendered.text)
    assert detect_language(prose) in (language, None)
    if len(prose) > 80:
        assert detect_language(prose) == language


# An event some channels only have (a texted survey's answers: SMS) never reaches the chat channels.
PLAIN_EVENTS = [e for e in EVENTS if e not in CHANNEL_EVENTS or "plain" in CHANNEL_EVENTS[e]]


@pytest.mark.parametrize(("event", "channel", "language"), list(product(PLAIN_EVENTS, PLAIN_READERS, LANGUAGES)))
def test_the_chat_channels_answer_every_event_in_every_language_in_the_plain_words(
    event: str, channel: str, language: str
) -> None:
    rendered = render_reply(reply_env(), event, channel, language, "en", CONTEXT)
    assert rendered.template == f"{event}/plain.{language}.j2"
    assert rendered.text and not LEFTOVER.search(rendered.text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_status_has_its_own_words_in_every_language(language: str) -> None:
    texts = {
        render_reply(reply_env(), "status_changed", "webform", language, "en", {**CONTEXT, "status": s}).text
        for s in STATUSES
    }
    assert len(texts) == len(STATUSES)
    assert not any("_" in t for t in texts)  # never a raw code such as in_progress


@pytest.mark.parametrize("language", LANGUAGES)
def test_incident_updates_name_every_status_in_words(language: str) -> None:
    texts = {
        render_reply(reply_env(), "incident_update", "webform", language, "en", {**CONTEXT, "status": s}).text
        for s in STATUSES
    }
    assert len(texts) == len(STATUSES)
    assert not any("_" in t for t in texts)


def test_a_missing_placeholder_fails_loudly() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render_reply(reply_env(), "received", "webform", "en", "en", {})


def test_an_unknown_language_falls_back_to_the_default() -> None:
    rendered = render_reply(reply_env(), "received", "webform", "tlh", "en", CONTEXT)
    assert rendered.language == "en"
    assert rendered.template == "received/webform.en.j2"


def test_an_unknown_event_is_an_error() -> None:
    with pytest.raises(TemplateMissing):
        render_reply(reply_env(), "teleported", "webform", "en", "en", CONTEXT)
