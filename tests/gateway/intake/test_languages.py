"""Every request gets a language; replies go out in the requester's, within the four we write."""

from __future__ import annotations

import pytest

from gateway.intake.languages import assign_language, language_code, reply_language
from gateway.models import InboundMessage, LanguageSource, Requester
from gateway.outbox.templating import render_reply, reply_env

LONG_VI = "Con trai tôi không đăng nhập được vào máy tính của trường từ hôm qua"
LONG_ES = "Mi hijo no puede entrar a su computadora de la escuela desde ayer"
LONG_ZH = "我儿子从昨天起就登录不了学校的电脑"
LONG_FR = "Mon fils ne peut pas se connecter à son ordinateur de l'école depuis hier"


def message(text: str, language: str = "en", source: LanguageSource = "channel", **requester: str) -> InboundMessage:
    return InboundMessage(
        id="m", channel="sms", account="+15550000000", sender="+15553010001", text=text,
        language=language, language_source=source, requester=Requester(**requester),
    )  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), [(LONG_VI, "vi"), (LONG_ES, "es"), (LONG_ZH, "zh")])
def test_a_long_enough_text_gets_its_detected_language_and_replies_in_it(text: str, expected: str) -> None:
    out = assign_language(message(text), None, "en")
    assert (out.language, out.language_source, out.requester.locale) == (expected, "detected", expected)


def test_a_short_text_falls_back_to_the_directorys_language() -> None:
    out = assign_language(message("ok"), "vi", "en")
    assert (out.language, out.language_source, out.requester.locale) == ("vi", "directory", "vi")


def test_a_short_text_without_a_directory_answer_keeps_the_channels_language() -> None:
    out = assign_language(message("ok", language="es"), None, "en")
    assert (out.language, out.language_source, out.requester.locale) == ("es", "channel", "es")


def test_a_language_picked_on_the_form_decides_the_replies_whatever_the_text() -> None:
    out = assign_language(message(LONG_ES, language="vi", source="chosen"), "zh", "en")
    assert out.language == "es"  # what the text is in: for rules and for staff
    assert out.requester.locale == "vi"  # what they asked to be answered in


def test_a_detected_language_we_do_not_write_replies_in_falls_back_to_the_directorys() -> None:
    out = assign_language(message(LONG_FR), "es", "en")
    assert out.language == "fr"
    assert out.requester.locale == "es"


def test_the_default_language_is_the_last_resort() -> None:
    out = assign_language(message("ok", language="tlh"), None, "es")
    assert out.requester.locale == "es"


@pytest.mark.parametrize(
    ("tag", "code"),
    [("es-MX", "es"), ("zh-Hans-CN", "zh"), ("zh_TW", "zh"), ("vi-VN", "vi"), ("EN-us", "en"), ("Vietnamese", "vi"),
     ("Spanish", "es"), ("中文", "zh"), ("", None), (None, None), ("12", None)],
)  # fmt: skip
def test_language_tags_and_names_reduce_to_a_language_code(tag: str | None, code: str | None) -> None:
    assert language_code(tag) == code


def test_only_the_four_written_languages_are_reply_languages() -> None:
    assert [reply_language(t) for t in ("es-419", "zh-Hant-TW", "vi", "fr-CA")] == ["es", "zh", "vi", None]


@pytest.mark.parametrize(("tag", "template"), [("es-MX", "es"), ("zh-Hans-CN", "zh"), ("vi-VN", "vi")])
def test_a_bcp47_conversation_language_picks_that_languages_template(tag: str, template: str) -> None:
    context = {"ticket": "7", "reference": "R-1", "status_url": "https://x/status/t"}
    rendered = render_reply(reply_env(), "received", "webform", tag, "en", context)
    assert rendered.template == f"received/webform.{template}.j2"
    assert rendered.language == template
