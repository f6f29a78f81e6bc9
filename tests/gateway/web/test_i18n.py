from __future__ import annotations

import string
from zoneinfo import ZoneInfo

from gateway.web.i18n import TIME_FIELDS, Words, choose, from_accept_language
from gateway.web.strings import STRINGS

CHICAGO = ZoneInfo("America/Chicago")


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_page_language_has_the_same_keys() -> None:
    english = set(STRINGS["en"])
    for lang, words in STRINGS.items():
        assert set(words) == english, f"{lang}: missing {english - set(words)}, extra {set(words) - english}"


def test_translations_use_the_same_placeholders_as_english() -> None:
    for lang, words in STRINGS.items():
        for key, text in words.items():
            if key == "time_format":
                assert _placeholders(text) <= TIME_FIELDS, lang
            else:
                assert _placeholders(text) == _placeholders(STRINGS["en"][key]), f"{lang}.{key}"


def test_every_language_names_twelve_months() -> None:
    for lang, words in STRINGS.items():
        assert len(words["months"].split()) == 12, lang


def test_accept_language_picks_the_highest_weighted_supported_language() -> None:
    assert from_accept_language("fr-FR;q=0.9, es-MX;q=0.8, en;q=0.5") == "es"


def test_accept_language_q_zero_means_never() -> None:
    assert from_accept_language("es;q=0, en;q=0.1") == "en"


def test_accept_language_with_nothing_supported_gives_none() -> None:
    assert from_accept_language("fr, de;q=0.5") is None


def test_explicit_choice_beats_later_candidates_and_default() -> None:
    assert choose("es", "en", default="en") == "es"


def test_unsupported_candidates_fall_back_to_the_default() -> None:
    assert choose("fr", None, "zz", default="es") == "es"


def test_timeline_time_reads_naturally_in_spanish_in_the_districts_zone() -> None:
    assert Words("es", zone=CHICAGO).time("2025-11-22T15:05:09+00:00") == "22 de nov de 2025, 09:05"


def test_timeline_time_reads_naturally_in_english_in_the_districts_zone() -> None:
    assert Words("en", zone=CHICAGO).time("2025-11-22T15:05:09+00:00") == "Nov 22, 2025 at 9:05 AM"


def test_a_time_late_in_the_utc_day_is_read_on_the_districts_day() -> None:
    # 03:30 UTC on the 1st is still the evening of the 31st in Chicago: the day, the month and the year turn back.
    assert Words("en", zone=CHICAGO).time("2026-01-01T03:30:00+00:00") == "Dec 31, 2025 at 9:30 PM"


def test_no_page_language_writes_utc() -> None:
    assert [lang for lang, words in STRINGS.items() if "UTC" in words["time_format"]] == []


def test_status_words_cover_unknown_statuses() -> None:
    assert Words("es").status("escalated_somewhere") == STRINGS["es"]["st_unknown"]
