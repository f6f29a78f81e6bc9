"""Automatic-mail and loop facts (RFC 3834), DMARC from our own border only, and which files are kept."""

from __future__ import annotations

import pytest

from gateway.store.blobs import FORBIDDEN, sniff
from normalizers.email import ParsedPart, parse_email, screen_files
from normalizers.email_flags import dmarc_fail_from, is_no_reply

BORDER = "mx.district.example.org"


def mail(headers: str, body: str = "The bus was late again this morning on Elm Street.") -> bytes:
    return (
        f"From: Ana <ana@example.org>\r\nTo: help@district.example.org\r\nMessage-ID: <m1@example.org>\r\n"
        f"{headers}\r\n\r\n{body}\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ("Subject: bus", {}),
        ("Subject: bus\r\nAuto-Submitted: no", {}),
        ("Subject: bus\r\nAuto-Submitted: auto-generated", {"auto_submitted": True}),
        ("Subject: bus\r\nAuto-Submitted: auto-replied", {"auto_submitted": True, "auto_reply": True}),
        ("Subject: bus\r\nAuto-Submitted: Auto-Replied (vacation)", {"auto_submitted": True, "auto_reply": True}),
        ("Subject: bus\r\nX-Autoreply: yes", {"auto_reply": True}),
        ("Subject: bus\r\nX-Autorespond: Vacation", {"auto_reply": True}),
        ("Subject: bus\r\nX-Auto-Response-Suppress: DR, OOF, AutoReply", {"auto_reply": True}),
        ("Subject: bus\r\nX-Auto-Response-Suppress: DR, RN", {}),
        ("Subject: bus\r\nPrecedence: auto_reply", {"auto_reply": True}),
        ("Subject: Out of Office: bus", {"auto_reply": True}),
        ("Subject: Automatic reply: bus", {"auto_reply": True}),
        ("Subject: Respuesta automática: autobús", {"auto_reply": True}),
        ("Subject: Réponse automatique : bus", {"auto_reply": True}),
        ("Subject: =?utf-8?B?6Ieq5Yqo5Zue5aSNOiBidXM=?=", {"auto_reply": True}),  # 自动回复: bus
        ("Subject: Tự động trả lời: bus", {"auto_reply": True}),
        ("Subject: AUTO: Jane Doe is out of the office (returning 01/08/2024)", {"auto_reply": True}),
        ("Subject: Out of school Monday, bus question", {}),
        ("Subject: Absent today - Maria", {}),
        ("Subject: bus\r\nPrecedence: bulk", {"bulk": True}),
        ("Subject: bus\r\nPrecedence: junk", {"bulk": True}),
        ("Subject: bus\r\nPrecedence: list", {"bulk": True}),
        ("Subject: bus\r\nList-Id: <pta.lists.example.org>", {"bulk": True}),
        ("Subject: bus\r\nList-Unsubscribe: <mailto:leave@lists.example.org>", {"bulk": True}),
        ("Subject: bus\r\nReturn-Path: <>", {"null_return_path": True}),
        ("Subject: bus\r\nReturn-Path: < >", {"null_return_path": True}),
        ("Subject: bus\r\nReturn-Path: <ana@example.org>", {}),
    ],
)
def test_automatic_mail_is_recognised(headers: str, expected: dict[str, bool]) -> None:
    auto = parse_email(mail(headers)).auto
    names = ("auto_submitted", "auto_reply", "bulk", "bounce", "null_return_path")
    assert {n: getattr(auto, n) for n in names} == {n: expected.get(n, False) for n in names}
    assert auto.automatic == bool(expected)


def test_mailer_daemon_with_a_null_return_path_is_a_bounce_even_without_a_report() -> None:
    raw = mail("Subject: failure notice\r\nReturn-Path: <>").replace(
        b"Ana <ana@example.org>", b"MAILER-DAEMON@mx.example.net"
    )
    assert parse_email(raw).auto.bounce


def test_postmaster_with_a_real_return_path_is_not_a_bounce() -> None:
    raw = mail("Subject: hello\r\nReturn-Path: <postmaster@example.net>").replace(
        b"ana@example.org", b"postmaster@example.net"
    )
    assert not parse_email(raw).auto.bounce


def test_exim_failed_recipients_header_names_the_bounced_address() -> None:
    raw = mail("Subject: Mail delivery failed\r\nReturn-Path: <>\r\nX-Failed-Recipients: Gone@Example.NET")
    auto = parse_email(
        raw.replace(b"Ana <ana@example.org>", b"Mail Delivery System <Mailer-Daemon@mx.example.net>")
    ).auto
    assert auto.bounce
    assert auto.bounced_recipients == ("gone@example.net",)


def test_loop_facts_are_exposed_for_the_channel_to_compare() -> None:
    raw = mail("Subject: bus\r\nX-Loop: help@district.example.org\r\nX-Loop: other-desk@example.net")
    raw = raw.replace(b"<m1@example.org>", b"<ticket-77-1@District.Example.ORG>")
    auto = parse_email(raw).auto
    assert auto.x_loop == ("help@district.example.org", "other-desk@example.net")
    assert auto.message_id_domain == "district.example.org"


DMARC_CASES = [
    ([f"{BORDER}; dmarc=fail (p=REJECT) header.from=example.org"], True),
    ([f"{BORDER}; spf=pass smtp.mailfrom=example.org; dmarc=pass header.from=example.org"], False),
    ([f"{BORDER.upper()}; DMARC=FAIL header.from=example.org"], True),
    ([f"{BORDER} 1; dkim=none; dmarc=fail header.from=example.org"], True),  # with a version
    ([f"{BORDER}; dkim=pass (good; signature) header.d=x; dmarc=fail"], True),  # ';' inside a comment
    ([f"{BORDER}; dmarc=none"], False),
    ([f"{BORDER}; none"], False),
    (["attacker.example.net; dmarc=fail header.from=example.org"], False),  # another host: ignored
    ([f"{BORDER}.attacker.example.net; dmarc=fail"], False),  # a look-alike id
    ([f"(forged) {BORDER}; dmarc=fail"], True),  # comments are not ids
    ([f"{BORDER}; dmarc=fail", f"{BORDER}; dmarc=pass"], True),  # a pass someone else wrote under our name
    ([f"{BORDER}; dmarc=pass", "mx.other.example; dmarc=fail"], False),
    ([], False),
    (["garbage without structure"], False),
]


@pytest.mark.parametrize(("headers", "fails"), DMARC_CASES)
def test_dmarc_fail_is_read_only_from_our_border_host(headers: list[str], fails: bool) -> None:
    assert dmarc_fail_from(headers, BORDER) is fails


def test_dmarc_helper_with_no_configured_host_trusts_nothing() -> None:
    assert dmarc_fail_from([f"{BORDER}; dmarc=fail"], "") is False


def test_dmarc_from_a_parsed_message_uses_its_authentication_results() -> None:
    raw = mail(
        f"Subject: x\r\nAuthentication-Results: {BORDER};\r\n\tdmarc=fail (p=QUARANTINE)\r\n header.from=example.org"
    )
    parsed = parse_email(raw)
    assert dmarc_fail_from(parsed.authentication_results, BORDER)
    assert not dmarc_fail_from(parsed.authentication_results, "mx.elsewhere.example")
    assert parsed.dmarc_failed(BORDER)
    assert not parsed.dmarc_failed("mx.elsewhere.example")


PDF = b"%PDF-1.4\n" + b"x" * 91
EXE = b"MZ" + b"\x00" * 98


def screen(files: list[ParsedPart], **limits: int) -> list[tuple[str, bool, str | None]]:
    settings = {"max_file_bytes": 150, "max_files": 3, "max_total_bytes": 250, **limits}
    return [
        (s.part.filename, s.kept, s.reason)
        for s in screen_files(files, sniff=sniff, forbidden_types=FORBIDDEN, **settings)
    ]


def test_every_file_comes_back_kept_or_with_the_reason_it_was_not() -> None:
    files = [
        ParsedPart("slip.pdf", "application/pdf", PDF),
        ParsedPart("invoice.pdf", "application/pdf", EXE),  # a program whatever it claims
        ParsedPart("big.pdf", "application/pdf", PDF * 2),
        ParsedPart("run.js", "text/plain", b"alert(1)"),
        ParsedPart("two.pdf", "application/pdf", PDF),
        ParsedPart("three.pdf", "application/pdf", PDF),
        ParsedPart("four.pdf", "application/pdf", b"%PDF-1.4\n"),
    ]
    assert screen(files) == [
        ("slip.pdf", True, None),
        ("invoice.pdf", False, "program files are not accepted"),
        ("big.pdf", False, "larger than 150 bytes"),
        ("run.js", False, "program files are not accepted"),
        ("two.pdf", True, None),
        ("three.pdf", False, "the files of one message may not exceed 250 bytes together"),
        ("four.pdf", True, None),
    ]


def test_the_file_count_limit_names_the_limit() -> None:
    files = [ParsedPart(f"{i}.pdf", "application/pdf", b"%PDF-1.4\n") for i in range(3)]
    assert screen(files, max_files=2)[-1] == ("2.pdf", False, "more than 2 files in one message")


def test_limits_in_megabytes_read_as_megabytes() -> None:
    big = ParsedPart("scan.pdf", "application/pdf", b"%PDF-1.4\n" + b"x" * 25_000_000)
    assert screen([big], max_file_bytes=25_000_000, max_total_bytes=50_000_000) == [
        ("scan.pdf", False, "larger than 25 MB")
    ]


@pytest.mark.parametrize(
    ("address", "no_reply"),
    [
        ("no-reply@grades.vendor.example", True),
        ("NoReply@district.example", True),
        ("noreply-4821@notify.example", True),
        ("do_not_reply@bus.example", True),
        ("DoNotReply@bus.example", True),
        ("alerts+noreply@forms.example", True),
        ("bounces+1234@mailer.example", True),
        ("MAILER-DAEMON@mx.example", True),
        ("noah.reply@example.org", False),
        ("noreen@example.org", False),
        ("replies@district.example", False),
        ("ana.perez+school@example.org", False),
    ],
)
def test_no_reply_addresses_are_told_from_people(address: str, no_reply: bool) -> None:
    assert is_no_reply(address) is no_reply
