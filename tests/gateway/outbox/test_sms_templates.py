"""Every shipped SMS template, rendered with worst-case values, fits one GSM-7 segment or two UCS-2 segments."""

from __future__ import annotations

from itertools import product

import pytest

from gateway.outbox.quiet_hours import hold_until, quiet_until
from gateway.outbox.segments import count_segments, within_budget
from gateway.outbox.templating import TEMPLATE_DIR, render_reply, reply_env

EVENTS = [
    "received", "status_changed", "resolved", "status_report", "after_hours", "opted_out", "help", "incident_update",
    "incident_linked", "csat",
]  # fmt: skip
LANGUAGES = ["en", "es", "vi", "zh"]
STATUSES = ["new", "open", "in_progress", "waiting", "resolved", "closed"]
# The longest day name in each language, far enough off that the date is written too (gateway.local_time.when).
LONGEST_WHEN = {"en": "Wednesday 2027-01-06 07:30", "es": "miércoles 2027-01-06 07:30",
                "vi": "Chủ Nhật 2027-01-03 07:30", "zh": "星期三 2027-01-06 07:30"}  # fmt: skip
# Long comments in each script a staff member may write: a GSM-7 one, one that forces UCS-2, Han characters.
COMMENTS = ["W" * 400, "Ñandú’s “quote” ñ" * 30, "校车明天早上七点到" * 40, ""]


def worst_cases(language: str) -> list[dict[str, object]]:
    cases = []
    for status, comment, evidence in product(STATUSES, COMMENTS, ["new", "new_after_resolved"]):
        cases.append({
            "ticket": "9999999", "reference": "WWWW-WWWW", "status": status, "comment": comment,
            "status_url": "https://help.district.example.org/status/" + "W" * 60, "evidence": evidence,
            "request_id": "01M8PFYVQ358084DTNB5E7GKCE",
            "requests": [{"ticket": "9999999", "status": status}] * 9,
            "next_open": LONGEST_WHEN[language], "first_response_due": LONGEST_WHEN[language],
            "incident_title": comment or "Wi-Fi", "form_url": "https://help.district.example.org/form",
        })  # fmt: skip
    return cases


@pytest.mark.parametrize(("event", "language"), list(product(EVENTS, LANGUAGES)))
def test_every_sms_template_fits_its_segment_budget(event: str, language: str) -> None:
    assert (TEMPLATE_DIR / event / f"sms.{language}.j2").exists()
    for context in worst_cases(language):
        text = render_reply(reply_env(), event, "sms", language, "en", context).text
        assert within_budget(text), f"{event}/sms.{language}.j2 is {count_segments(text)} with {context}"


SURVEY_ANSWERS = ["rated", "commented", "already_answered", "comment_too_long", "out_of_range"]


@pytest.mark.parametrize(("answer", "language"), list(product(SURVEY_ANSWERS, LANGUAGES)))
def test_every_answer_to_a_texted_survey_fits_its_segment_budget(answer: str, language: str) -> None:
    context = {"answer": answer, "ticket": "9999999", "chars": 5000}
    rendered = render_reply(reply_env(), "csat_answer", "sms", language, "en", context)
    assert rendered.language == language
    assert within_budget(rendered.text), f"csat_answer/sms.{language}.j2 ({answer}) is {count_segments(rendered.text)}"


def test_the_no_requests_status_report_fits_too() -> None:
    for language in LANGUAGES:
        text = render_reply(reply_env(), "status_report", "sms", language, "en", {"requests": []}).text
        assert within_budget(text)


@pytest.mark.parametrize(
    ("text", "encoding", "units", "count"),
    [
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # the extension table costs two septets each
        ("{" + "a" * 159, "GSM-7", 161, 2),
        ("á" + "a" * 69, "UCS-2", 70, 1),  # one non-GSM character makes the whole text UCS-2
        ("á" + "a" * 70, "UCS-2", 71, 2),
        ("á" * 134, "UCS-2", 134, 2),
        ("á" * 135, "UCS-2", 135, 3),
        ("😀" * 35, "UCS-2", 70, 1),  # an emoji is two UTF-16 code units
        ("ñÑüÜéÉàèìòù¿¡", "GSM-7", 13, 1),
        ("", "GSM-7", 0, 0),
    ],
)
def test_segments_are_counted_as_carriers_count_them(text: str, encoding: str, units: int, count: int) -> None:
    s = count_segments(text)
    assert (s.encoding, s.units, s.count) == (encoding, units, count)


def test_a_template_over_budget_is_caught() -> None:
    assert not within_budget("a" * 161)
    assert not within_budget("á" * 135)
    assert not within_budget("")


def test_quiet_hours_cross_midnight_in_the_district_time_zone() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    chicago = ZoneInfo("America/Chicago")
    late = datetime(2026, 11, 30, 22, 30, tzinfo=chicago)
    early = datetime(2026, 12, 1, 6, 0, tzinfo=chicago)
    noon = datetime(2026, 12, 1, 12, 0, tzinfo=chicago)
    morning = datetime(2026, 12, 1, 8, 0, tzinfo=chicago)
    assert quiet_until(late, "21:00-08:00", chicago) == morning
    assert quiet_until(early.astimezone(UTC), "21:00-08:00", chicago) == morning
    assert quiet_until(noon, "21:00-08:00", chicago) is None
    assert quiet_until(late, "", chicago) is None


@pytest.mark.parametrize(
    ("event", "priority", "not_before", "held"),
    [
        ("status_changed", "normal", None, True),
        ("resolved", "low", None, True),
        ("status_changed", "urgent", None, False),  # urgent priorities go now
        ("received", "normal", None, False),  # the acknowledgement of a fresh text is never held
        ("help", "normal", None, False),
        ("status_changed", "normal", "past", False),  # the morning run of a held reply
    ],
)
def test_what_quiet_hours_hold(event: str, priority: str, not_before: str | None, held: bool) -> None:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/Chicago")
    now = datetime(2026, 11, 30, 23, 0, tzinfo=zone)
    nb = now - timedelta(minutes=1) if not_before else None
    until = hold_until(now, event=event, priority=priority, urgent=["urgent"], spec="21:00-08:00", zone=zone,
                       not_before=nb)  # fmt: skip
    assert (until is not None) == held


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_staff_answer_by_text_is_quoted_as_written_and_only_a_long_one_is_cut(language: str) -> None:
    """An answer cannot fit one segment and stay the staff's own words: its wording does, and the words follow
    whole up to 300 characters (a few segments); a longer answer ends in "..." (the status page has it all)."""
    context = {"ticket": "9999999", "status": "in_progress", "status_url": "https://x/status/" + "W" * 60}
    wording = render_reply(reply_env(), "answer", "sms", language, "en", {**context, "comment": ""}).text
    assert within_budget(wording)
    answer = "Ñandú’s bus 12 comes at 7:40 tomorrow; the driver knows about Mateo’s stop. " * 3
    quoted = render_reply(reply_env(), "answer", "sms", language, "en", {**context, "comment": answer.strip()}).text
    assert answer.strip() in quoted
    long = render_reply(reply_env(), "answer", "sms", language, "en", {**context, "comment": "W" * 400}).text
    assert "W" * 297 + "..." in long and "W" * 298 not in long
