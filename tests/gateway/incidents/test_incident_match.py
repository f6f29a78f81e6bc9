"""Incident criteria: what matches (case, accents, school, channel, time), and patterns that are refused or bounded."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.incidents.match import BadCriteria, Matcher, build_criteria, fold, nested_quantifier, parse_until
from gateway.incidents.surge import keywords
from gateway.models import InboundMessage, Requester

CHICAGO = ZoneInfo("America/Chicago")
NOON = datetime(2026, 3, 9, 18, 0, tzinfo=UTC)  # 13:00 in Chicago


def message(text: str, **fields: object) -> InboundMessage:
    base: dict[str, object] = {"id": "01M81EV6Y29MXDX1TSDB8KD5GK", "channel": "webform", "account": "district-web",
                               "sender": "pat@example.org", "text": text, "campus": "lhs",
                               "received_at": NOON}  # fmt: skip
    base.update(fields)
    return InboundMessage.model_validate(base)


def matcher(**criteria: object) -> Matcher:
    return Matcher(build_criteria(**criteria), timeout_s=0.2)


def test_text_is_compared_without_case_or_accents() -> None:
    assert fold("Wi-Fi CAÍDO en la Biblioteca") == "wi-fi caido en la biblioteca"
    m = matcher(pattern="wi-?fi|internet")
    assert m.matches(message("El WI-FI está caído"))
    assert matcher(pattern="caido").matches(message("El wifi está CAÍDO"))
    assert not m.matches(message("The bus is late"))


def test_keywords_match_whole_words_only() -> None:
    m = matcher(keywords=("portal",))
    assert m.matches(message("The Portal will not load"))
    assert not m.matches(message("The teleportal is a story"))


def test_school_channel_and_category_narrow_or_widen_the_match() -> None:
    m = matcher(pattern="wifi", schools=("LHS",), channels=("webform",))
    assert m.matches(message("wifi down"))
    assert not m.matches(message("wifi down", campus="wms"))
    assert not m.matches(message("wifi down", campus=None))
    assert m.matches(message("wifi down", campus=None, requester=Requester(campus="lhs")))
    assert not m.matches(message("wifi down", channel="email"))
    assert matcher(categories=("internet",)).matches(message("nothing loads", category="internet"))


def test_a_request_received_after_the_window_does_not_match() -> None:
    m = matcher(pattern="wifi", until=NOON)
    assert m.matches(message("wifi down", received_at=NOON))
    assert not m.matches(message("wifi down", received_at=NOON + timedelta(seconds=1)))


def test_until_hhmm_is_today_in_the_district_time_zone() -> None:
    assert parse_until("14:00", NOON, CHICAGO) == datetime(2026, 3, 9, 14, 0, tzinfo=CHICAGO)
    assert parse_until("2026-03-10T08:30", NOON, CHICAGO) == datetime(2026, 3, 10, 8, 30, tzinfo=CHICAGO)
    assert parse_until("2026-03-10T08:30:00+00:00", NOON, CHICAGO) == datetime(2026, 3, 10, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize("value", ["12:59", "2026-03-09T12:00", "25:00x", "tomorrow"])
def test_until_in_the_past_or_unreadable_is_refused(value: str) -> None:
    with pytest.raises(BadCriteria):
        parse_until(value, NOON, CHICAGO)


@pytest.mark.parametrize(
    ("pattern", "refused"),
    [
        ("(a+)+$", True),
        ("(\\w+\\s?)*$", True),
        ("([a-z]*)+x", True),
        ("(?:x|y+){2,}", True),
        ("((ab)*c)*", True),
        ("wi-?fi|internet", False),
        ("(wifi|internet)+", False),
        ("no (internet|wifi) in (room|lab) \\d+", False),
        ("[(]a+[)]+", False),
        ("\\(a+\\)+", False),
    ],
)
def test_patterns_that_backtrack_catastrophically_are_refused(pattern: str, refused: bool) -> None:
    assert nested_quantifier(pattern) is refused


def test_a_slow_pattern_that_slips_through_is_cut_off_by_the_timeout() -> None:
    m = Matcher(build_criteria(pattern=".*a.*a.*a.*a.*a.*a.*a.*b"), timeout_s=0.1)
    started = time.monotonic()
    assert not m.matches(message("a" * 3000))
    assert time.monotonic() - started < 2


def test_criteria_must_say_what_the_incident_is_about() -> None:
    with pytest.raises(BadCriteria, match="needs --match, --keyword or --category"):
        build_criteria(schools=("lhs",))
    with pytest.raises(BadCriteria, match="not a valid regular expression"):
        build_criteria(pattern="wifi(")


def test_surge_keywords_drop_stop_words_and_accents() -> None:
    assert keywords("Sin internet", "Hola, mi hijo no tiene internet en la escuela hoy. ¡Gracias!") == ["internet"]
    assert keywords("", "The Wi-Fi in Room 12 is not working, the CAFÉ too") == ["wi-fi", "cafe"]
