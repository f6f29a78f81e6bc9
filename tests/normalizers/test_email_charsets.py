"""Charsets: declared, wrong, unknown and missing; RFC 2047 words, broken ones included; RFC 2231 names."""

from __future__ import annotations

import base64

import pytest

from normalizers.email import parse_email
from normalizers.email_charset import codec_for, decode_bytes, decode_words


def message(body: bytes, content_type: str, *, cte: str = "8bit", headers: bytes = b"") -> bytes:
    return (
        b"From: Ana <ana@example.org>\r\nTo: help@district.example.org\r\nSubject: test\r\n"
        + headers
        + b"MIME-Version: 1.0\r\nContent-Type: "
        + content_type.encode()
        + b"\r\nContent-Transfer-Encoding: "
        + cte.encode()
        + b"\r\n\r\n"
        + body
    )


# (declared label, bytes, expected text, whether a fallback is recorded)
LABELS = [
    ("utf8", "Niño".encode(), "Niño", False),
    ("x-unknown", "Niño".encode(), "Niño", True),
    ("unknown-8bit", "café".encode("cp1252"), "café", True),
    ("ks_c_5601-1987", "안녕하세요 똠방각하".encode("cp949"), "안녕하세요 똠방각하", False),  # 똠 is cp949-only
    ("iso-8859-8-i", "שלום".encode("iso8859-8"), "שלום", False),
    ("windows-874", "สวัสดี".encode("cp874"), "สวัสดี", False),
    ("gb2312", "王喆".encode("gbk"), "王喆", False),  # 喆 is GBK, not GB2312
    ("unicode-1-1-utf-7", "Niño".encode("utf-7"), "Niño", False),
    ("windows-1258", b"Vi\xea\xf2t", "Vi\u00ea\u0323t", False),  # tone as a combining mark; NFC comes later
    ("utf-8", "“café” \u2013 5€".encode("cp1252"), "“café” \u2013 5€", True),
    ("iso-8859-1", "“quoted” 5€".encode("cp1252"), "“quoted” 5€", False),  # as browsers: Latin-1 means cp1252
    ("iso-8859-1", "Niño".encode(), "Niño", True),  # UTF-8 bytes labelled Latin-1
    ("us-ascii", "Niño".encode(), "Niño", True),
    ("big5", "學校".encode("big5"), "學校", False),
    ("shift_jis", "学校".encode("cp932"), "学校", False),
    ("no-such-charset", "Niño".encode(), "Niño", True),
    ("zlib", b"plain", "plain", False),  # a bytes codec is not a charset: ignored, and ASCII needs no fallback
]


@pytest.mark.parametrize(
    ("label", "data", "text", "fallback"), LABELS, ids=[f"{c[0]}-{i}" for i, c in enumerate(LABELS)]
)
def test_declared_labels_decode_or_fall_back(label: str, data: bytes, text: str, fallback: bool) -> None:
    decoded = decode_bytes(data, label)
    assert decoded.text == text
    assert (decoded.note is not None) == fallback


def test_missing_charset_on_8bit_text_is_read_as_utf8_then_cp1252() -> None:
    assert decode_bytes("Niño".encode(), None).text == "Niño"
    assert decode_bytes("Niño".encode("cp1252"), None).text == "Niño"
    assert decode_bytes(b"plain", None).note is None


def test_bytes_no_codec_can_read_still_decode_as_latin1() -> None:
    decoded = decode_bytes(b"\x81\x8d\x8f\x90\x9d", "utf-8")
    assert decoded.charset == "latin-1"
    assert decoded.text == "\x81\x8d\x8f\x90\x9d"


def test_charset_labels_map_to_supersets_senders_mean() -> None:
    assert codec_for("GB2312") == "gb18030"
    assert codec_for(' "ks_c_5601-1987" ') == "cp949"
    assert codec_for("utf-8*en") == "utf-8"
    assert codec_for("x-mac-roman") == "mac-roman"
    assert codec_for("rot13") is None
    assert codec_for("idna") is None
    assert codec_for(None) is None


@pytest.mark.parametrize("label", ["x-unknown", "utf-8", "no-such-charset"])
def test_a_wrong_or_unknown_body_charset_is_recorded_on_the_message(label: str) -> None:
    parsed = parse_email(message("Niño sin autobús".encode("cp1252"), f"text/plain; charset={label}"))
    assert parsed.text == "Niño sin autobús"
    assert len(parsed.charset_fallbacks) == 1
    assert parsed.charset_fallbacks[0].startswith("text/plain part: ")


def test_base64_gbk_body_labelled_gb2312() -> None:
    body = base64.b64encode("王喆今天不去学校。".encode("gbk"))
    parsed = parse_email(message(body, 'text/plain; charset="gb2312"', cte="base64"))
    assert parsed.text == "王喆今天不去学校。"
    assert parsed.charset_fallbacks == ()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=?utf-8?Q?Excursi=C3=B3n_al_museo?=", "Excursión al museo"),
        ("=?UTF-8?B?RXhjdXJzacOzbg==?= al museo", "Excursión al museo"),
        ("=?utf-8?q?Re:?= =?utf-8?q?_bus?=", "Re: bus"),  # whitespace between words is not content
        ("=?utf-8?q?a?==?utf-8?q?b?=", "ab"),  # no space between words
        ("=?utf-8?B?4oCU?=", "\u2014"),
        ("=?utf-8?B?4oA=?= =?utf-8?B?lA==?=", "\u2014"),  # one character's bytes split across two words
        ("=?utf-8?B?4oCUIGZpbg?=", "\u2014 fin"),  # missing padding
        ("=?iso-8859-1?Q?Jos=E9?= P=E9rez", "José P=E9rez"),  # only encoded-words are decoded
        ("=?gb2312?B?" + base64.b64encode("王喆".encode("gbk")).decode() + "?=", "王喆"),
        ("=?utf-8*es?Q?Ni=C3=B1o?=", "Niño"),  # RFC 2231 language in a word
        ("=?x-unknown?Q?caf=E9?=", "café"),
        ("=?utf-8?Q?caf=E9?=", "café"),  # declared utf-8, byte is cp1252
        ("=?utf-8?X?abc?=", "=?utf-8?X?abc?="),  # unknown encoding letter: left as text
        ("=?utf-8?B?!!!?=", ""),  # nothing decodable inside: an empty word
        ("plain subject", "plain subject"),
        ("=?utf-8?Q?unterminated", "=?utf-8?Q?unterminated"),
    ],
)
def test_rfc2047_words_decode_leniently(raw: str, expected: str) -> None:
    assert decode_words(raw)[0] == expected


def test_raw_utf8_subject_is_read_as_utf8() -> None:
    raw = message(b"hola", "text/plain; charset=iso-8859-1").replace(b"Subject: test", "Subject: Niño".encode())
    assert parse_email(raw).subject == "Niño"


def test_windows_1258_combining_tones_become_precomposed_text() -> None:
    parsed = parse_email(message(b"Vi\xea\xf2t Nam", "text/plain; charset=windows-1258"))
    assert parsed.text == "Vi\u1ec7t Nam"


def test_raw_8bit_subject_in_a_legacy_charset_uses_the_body_charset() -> None:
    raw = "From: a@b.example\r\nSubject: 校车时间\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n".encode(
        "gbk"
    ) + "校车".encode("gbk")
    parsed = parse_email(raw)
    assert parsed.subject == "校车时间"
    assert any("raw 8-bit header" in note for note in parsed.charset_fallbacks)


def test_encoded_display_name_with_a_comma_stays_one_address() -> None:
    raw = message(
        b"hi", "text/plain", headers=b"Cc: =?utf-8?Q?P=C3=A9rez=2C_Jos=C3=A9?= <jose@example.org>, b@c.example\r\n"
    )
    parsed = parse_email(
        raw.replace(b"From: Ana <ana@example.org>", b'From: "=?utf-8?Q?L=C3=B3pez=2C_Ana?=" <Ana@Example.org>')
    )
    assert parsed.from_name == "López, Ana"
    assert parsed.from_addr == "ana@example.org"
    assert parsed.cc == ("jose@example.org", "b@c.example")


def test_rfc2231_filename_with_an_unknown_charset_still_gives_a_name() -> None:
    part = (
        b"Content-Type: application/pdf\r\n"
        b"Content-Disposition: attachment; filename*=x-klingon''Informe%20m%E9dico.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
    )
    raw = message(b"--b\r\n" + part + b"--b--\r\n", 'multipart/mixed; boundary="b"')
    parsed = parse_email(raw)
    assert [f.filename for f in parsed.files] == ["Informe médico.pdf"]
    assert parsed.files[0].data == b"%PDF-1.4\n"


def test_filenames_lose_paths_and_control_characters() -> None:
    part = (
        b'Content-Type: image/png; name="..\\\\..\\\\evil\x07.png"\r\n'
        b"Content-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n"
    )
    parsed = parse_email(message(b"--b\r\n" + part + b"--b--\r\n", 'multipart/mixed; boundary="b"'))
    assert [f.filename for f in parsed.files] == ["evil.png"]


def test_a_nameless_part_gets_a_name_from_its_type() -> None:
    part = b"Content-Type: image/png\r\nContent-ID: <logo>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n"
    parsed = parse_email(message(b"--b\r\n" + part + b"--b--\r\n", 'multipart/related; boundary="b"'))
    assert [(f.filename, f.inline, f.content_id) for f in parsed.files] == [("image-1.png", True, "logo")]
