"""Each condition, table-driven: a one-rule file, a message, and whether the rule matches (and says why)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gateway.models import Attachment
from gateway.routing.engine import evaluate
from tests.gateway.routing.support import load, local, message, write_rules

PHOTO = Attachment(filename="bus.jpg", content_type="image/jpeg", size=10, sha256="0" * 64)

CASES: list[tuple[str, str, dict[str, Any], bool, str]] = [
    # (name, when: YAML, message fields, matches, a word the explanation contains)
    ("channel in a list", "channel: [sms, whatsapp]", {}, True, "sms"),
    ("channel not in the list", "channel: email", {}, False, ""),
    ("receiving account", "account: '+15550001111'", {}, True, "account"),
    ("sender on a list", "sender: ['+15557654321']", {}, True, "sender is on the list"),
    ("sender domain", "sender_domain: district.org", {"sender": "pat@mail.district.org"}, True, "district.org"),
    ("sender domain is not a suffix trick", "sender_domain: district.org", {"sender": "x@evildistrict.org"}, False, ""),
    ("sender regex", "sender_regex: '^\\+1555'", {}, True, "sender matches"),
    ("requester role", "role: staff", {"requester": {"role": "staff"}}, True, "staff"),
    ("requester role differs", "role: staff", {"requester": {"role": "parent"}}, False, ""),
    ("school from the directory", "school: lhs", {"requester": {"campus": "LHS"}}, True, "lhs"),
    ("school from the form", "school: lhs", {"campus": "lhs"}, True, "lhs"),
    ("keyword, any case", "keywords: [lockout]", {"text": "LOCKOUT on my account"}, True, "lockout"),
    (
        "keyword phrase",
        "keywords: ['no internet in testing lab']",
        {"text": "No Internet in Testing Lab 3"},
        True,
        "no internet",
    ),
    (
        "keyword without accents matches accents",
        "keywords: [contrasena]",
        {"text": "Olvidé mi contraseña"},
        True,
        "contrasena",
    ),
    (
        "keyword with accents matches without",
        "keywords: [contraseña]",
        {"text": "olvide mi CONTRASENA"},
        True,
        "contrasena",
    ),
    ("keyword is a whole word", "keywords: [lab]", {"text": "we collaborate"}, False, ""),
    ("keyword in Chinese", "keywords: [无法上网]", {"text": "我们教室无法上网了"}, True, "无法上网"),
    ("keyword in Vietnamese", "keywords: [mật khẩu]", {"text": "Tôi quên MẬT KHẨU"}, True, "mat khau"),
    ("subject keyword ignores the text", "subject_keywords: [password]", {"text": "password"}, False, ""),
    ("subject keyword", "subject_keywords: [password]", {"subject": "Password reset"}, True, "subject"),
    ("text regex", "text_regex: 'bus\\s*#?\\d+'", {"text": "Bus #42 is late"}, True, "Bus #42"),
    ("regex on subject or text", "regex: 'wi-?fi'", {"subject": "WiFi down"}, True, "WiFi"),
    ("detected language", "language: es", {"language": "es-MX"}, True, "es"),
    ("detected language differs", "language: [vi, zh]", {"language": "en"}, False, ""),
    ("has attachments", "has_attachments: true", {"attachments": (PHOTO,)}, True, "1 attachment"),
    ("has no attachments", "has_attachments: false", {}, True, "no attachments"),
    ("inside hours", "within_hours: district", {}, True, "inside the hours of district"),
    ("outside hours at night", "outside_hours: district", {"received_at": local("2026-12-01 20:00")}, True, "outside"),
    ("outside hours on Saturday", "outside_hours: district", {"received_at": local("2026-12-05 10:00")}, True, "Sat"),
    (
        "a department's own hours",
        "within_hours: {calendar: district, department: transportation}",
        {"received_at": local("2026-12-01 06:15")},
        True,
        "district/transportation",
    ),
    ("closure day", "during_closure: true", {"received_at": local("2026-12-02 09:00")}, True, "closure"),
    ("not a closure day", "during_closure: true", {}, False, ""),
    (
        "hours are closed on a closure day",
        "outside_hours: district",
        {"received_at": local("2026-12-02 09:00")},
        True,
        "",
    ),
    ("all conditions must hold", "channel: sms\n      keywords: [bus]", {"text": "printer"}, False, ""),
]


@pytest.mark.parametrize(("name", "when", "fields", "matches", "why"), CASES, ids=[c[0] for c in CASES])
def test_each_condition_matches_what_it_says(
    tmp_path: Path, name: str, when: str, fields: dict[str, Any], matches: bool, why: str
) -> None:
    rules = load(write_rules(tmp_path, f"rules:\n  - id: r\n    when:\n      {when}\n    then: {{queue: hit}}\n"))
    decision = evaluate(rules, message(**fields), "builtin", {date(2026, 12, 2)})
    assert (decision.route.queue == "hit") is matches
    if matches:
        assert why in " ".join(decision.matches[0].reasons)
