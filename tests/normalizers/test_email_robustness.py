"""parse_email never fails in any other way than UnparseableEmail, whatever bytes arrive."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from normalizers.email import ParsedEmail, UnparseableEmail, parse_email

SAMPLES = sorted((Path(__file__).parent.parent / "payloads" / "email").glob("*.eml"))
# No example database: it would write a .hypothesis folder into the work tree.
FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def parses_or_refuses(raw: bytes) -> None:
    try:
        parsed = parse_email(raw)
    except UnparseableEmail:
        return
    assert isinstance(parsed, ParsedEmail)
    assert parsed.text or not parsed.full_text  # never an empty text when there was content


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(raw: bytes) -> None:
    parses_or_refuses(raw)


@st.composite
def garbled_samples(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(SAMPLES)).read_bytes())
    for _ in range(draw(st.integers(1, 12))):
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(raw) - 1, 0)))
        if action == "flip" and raw:
            raw[at] = draw(st.integers(0, 255))
        elif action == "insert":
            raw[at:at] = draw(
                st.one_of(
                    st.binary(max_size=40),
                    st.sampled_from(
                        [b"=?", b"?=", b"=?utf-8?B?", b"=?x-unknown?Q?", b"\r\n--", b"\r\n\r\n", b"<", b">", b";", b'"',
                         b"\r\nContent-Type: multipart/mixed; boundary=x\r\n",
                         b"\r\nContent-Transfer-Encoding: base64\r\n", b"charset=", b"filename*0*=",
                         b"<div id=divRplyFwdMsg>", b"<blockquote type=cite>", b"<![CDATA["]
                    ),
                )
            )  # fmt: skip
        elif action == "delete":
            del raw[at : at + draw(st.integers(1, 60))]
        else:
            del raw[at:]
    return bytes(raw)


@FUZZ
@given(garbled_samples())
def test_garbled_recorded_messages(raw: bytes) -> None:
    parses_or_refuses(raw)


header_names = st.sampled_from(
    ["From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "Content-Type",
     "Content-Transfer-Encoding", "Content-Disposition", "Return-Path", "Auto-Submitted", "Authentication-Results",
     "X-Loop", "Delivered-To", "Reply-To", "List-Id", "Precedence"]
)  # fmt: skip
header_values = st.one_of(
    st.text(max_size=120),
    st.sampled_from(
        ["multipart/mixed; boundary=b", "multipart/alternative; boundary=b", "message/rfc822", "text/html",
         "multipart/report; report-type=delivery-status; boundary=b", "message/delivery-status",
         "application/ms-tnef", "text/plain; charset=x-unknown", "text/plain; charset=utf-7; format=flowed",
         "base64", "quoted-printable", "x-uuencode", "<>", "attachment; filename*=x''%FF%FE",
         "=?utf-8?B?=?=", "=?gb2312?Q?=FF=FE?=", "Sat, 99 Foo 99999 99:99:99 +9999", "a@b, <c@d>, \"e\" <f@g>"]
    ),
)  # fmt: skip


@st.composite
def structured_mail(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(st.tuples(header_names, header_values), min_size=1, max_size=10))
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    parts = draw(st.lists(st.tuples(header_values, st.binary(max_size=200)), max_size=4))
    body = b"".join(
        b"--b\r\nContent-Type: " + v.encode("utf-8", "surrogatepass") + b"\r\n\r\n" + d + b"\r\n" for v, d in parts
    )
    return head.encode("utf-8", "surrogatepass") + b"\r\n" + body + b"--b--\r\n" + draw(st.binary(max_size=200))


@FUZZ
@given(structured_mail())
def test_structured_garbage(raw: bytes) -> None:
    parses_or_refuses(raw)


def test_hundreds_of_nested_attached_messages_are_reported_or_refused() -> None:
    for depth in (40, 600, 3000):
        raw = b"From: a@b.example\r\n" + b"Content-Type: message/rfc822\r\n\r\nFrom: x@y.example\r\n" * depth
        raw += b"Content-Type: text/plain\r\n\r\nhi\r\n"
        try:
            parsed = parse_email(raw)
        except UnparseableEmail:
            assert depth > 600
            continue
        assert "MIME parts nested deeper than 16 levels were not read" in parsed.defects
