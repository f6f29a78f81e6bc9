"""HTML mail to readable text and sanitized HTML; language detection; structure the parser degrades on."""

from __future__ import annotations

import base64

import pytest

from normalizers.email import UnparseableEmail, parse_email
from normalizers.email_html import html_to_text, sanitize_html
from normalizers.email_language import detect_language


def test_paragraphs_breaks_lists_and_links_read_naturally() -> None:
    html = (
        "<p>First paragraph.</p><p>Second<br>line two</p>"
        "<ul><li>one</li><li>two<ol><li>a</li><li>b</li></ol></li></ul>"
        '<p>See <a href="https://district.example.org/faq">the FAQ</a>, '
        '<a href="mailto:help@district.example.org">help@district.example.org</a> or '
        '<a href="https://district.example.org/x">https://district.example.org/x</a>.</p>'
        "<table><tr><td>Bus</td><td>14</td></tr><tr><td>Stop</td><td>Elm</td></tr></table>"
    )
    assert html_to_text(html).full == (
        "First paragraph.\n\nSecond\nline two\n\n- one\n- two\n  1. a\n  2. b\n\n"
        "See the FAQ (https://district.example.org/faq), help@district.example.org or "
        "https://district.example.org/x.\n\nBus 14\nStop Elm"
    )


def test_head_style_script_and_title_are_not_text() -> None:
    html = (
        "<html><head><title>Secret title</title><style>p{color:red}</style></head>"
        "<body><script>alert('x')</script><p>Visible&nbsp;text &amp; more</p></body></html>"
    )
    assert html_to_text(html).full == "Visible text & more"


def test_outlook_msonormal_paragraphs_are_lines_and_empty_ones_blank_lines() -> None:
    html = (
        '<p class="MsoNormal">Hi,<o:p></o:p></p><p class="MsoNormal"><o:p>&nbsp;</o:p></p>'
        '<p class="MsoNormal">Line one<o:p></o:p></p><p class="MsoNormal">Line two<o:p></o:p></p>'
    )
    assert html_to_text(html).full == "Hi,\n\nLine one\nLine two"


@pytest.mark.parametrize(
    "quote",
    [
        '<div id="divRplyFwdMsg"><b>From:</b> Desk</div><div>old</div>',
        '<div id="x_divRplyFwdMsg"><b>From:</b> Desk</div><div>old</div>',
        '<div id="appendonsend"></div><hr><div>From: Desk<br>old</div>',
        '<div class="gmail_quote"><div class="gmail_attr">On Tue, Desk wrote:</div><blockquote>old</blockquote></div>',
        '<blockquote type="cite">old</blockquote>',
        '<div class="moz-cite-prefix">On 1/2/24, Desk wrote:</div><blockquote type="cite">old</blockquote>',
        '<div class="yahoo_quoted">old</div>',
    ],
)
def test_quoted_history_markers_split_new_text_from_history(quote: str) -> None:
    converted = html_to_text(f"<div>New words here.</div>{quote}")
    assert converted.quote_marked
    assert converted.new == "New words here."
    assert "old" in converted.full


def test_blockquotes_are_marked_as_quotes_in_full_text() -> None:
    assert html_to_text("<p>Yes.</p><blockquote>Is it?<blockquote>Deeper</blockquote></blockquote>").full == (
        "Yes.\n\n> Is it?\n> > Deeper"
    )


def test_sanitizer_removes_scripts_handlers_styles_and_remote_images_but_keeps_cid_images() -> None:
    dirty = (
        '<p onclick="steal()" style="color:red">Hi</p><script>alert(1)</script>'
        '<img src="cid:logo@01DA"><img src="https://tracker.example.com/o.gif"><img src="data:image/png;base64,AA">'
        '<a href="javascript:alert(1)">x</a><a href="https://district.example.org">ok</a>'
        '<iframe src="https://evil.example"></iframe><form action="https://evil.example"><input></form>'
    )
    clean = sanitize_html(dirty)
    assert '<img src="cid:logo@01DA">' in clean
    for bad in (
        "onclick",
        "style=",
        "<script",
        "alert",
        "tracker",
        "data:",
        "javascript",
        "<iframe",
        "<form",
        "<input",
    ):
        assert bad not in clean
    assert '<a href="https://district.example.org" rel="noopener noreferrer">ok</a>' in clean


def test_html_only_mail_is_converted_and_its_quote_cut() -> None:
    html = (
        '<div>Please call me back.</div><div id="divRplyFwdMsg"><b>From:</b> Desk<br><b>Sent:</b> Monday</div>'
        "<p>Old</p>"
    )
    raw = (
        b"From: a@b.example\r\nSubject: x\r\nContent-Type: text/html; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(html.encode())
    )
    parsed = parse_email(raw)
    assert parsed.text == "Please call me back."
    assert parsed.full_text == "Please call me back.\nFrom: Desk\nSent: Monday\n\nOld"


def test_empty_plain_alternative_falls_back_to_the_html_one() -> None:
    raw = (
        b'From: a@b.example\r\nContent-Type: multipart/alternative; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\n \r\n"
        b"--b\r\nContent-Type: text/html\r\n\r\n<p>From the <b>HTML</b> part</p>\r\n--b--\r\n"
    )
    assert parse_email(raw).text == "From the HTML part"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The bus did not come this morning and my daughter missed her first class.", "en"),
        ("El autobús no pasó esta mañana y mi hija perdió su primera clase.", "es"),
        ("Xe buýt không đến sáng nay và con gái tôi đã lỡ tiết học đầu tiên.", "vi"),
        ("今天早上校车没有来，我女儿错过了第一节课。", "zh"),
        ("Le bus n'est pas passé ce matin et ma fille a manqué son premier cours.", "fr"),
        ("الحافلة لم تأت هذا الصباح وابنتي فاتتها الحصة الأولى.", "ar"),
        ("ok thanks", None),
        ("", None),
        ("https://district.example.org/a/b/c 555-010-2000 ana@example.org", None),
    ],
)
def test_language_is_detected_or_none_when_unsure(text: str, language: str | None) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize(
    "raw", [b"", b"   \r\n\r\n ", b"\x00\x01\x02\x03binary", b"just some words without any header\r\n"]
)
def test_nothing_usable_raises_unparseable(raw: bytes) -> None:
    with pytest.raises(UnparseableEmail):
        parse_email(raw)


def test_headers_only_message_is_usable() -> None:
    parsed = parse_email(b"From: Ana <ana@example.org>\r\nSubject: Bus\r\n")
    assert (parsed.subject, parsed.text, parsed.files) == ("Bus", "", ())


def test_unreadable_winmail_dat_is_kept_as_it_came() -> None:
    raw = (
        b'From: a@b.example\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        b'--b\r\nContent-Type: application/ms-tnef; name="winmail.dat"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + base64.b64encode(b"\x78\x9f\x3e\x22" + b"\xff" * 40)
        + b"\r\n--b--\r\n"
    )
    parsed = parse_email(raw)
    assert [(f.filename, f.size) for f in parsed.files] == [("winmail.dat", 44)]
    assert parsed.defects == ("winmail.dat could not be read: kept as it came",)


def test_signatures_of_signed_mail_are_not_listed_as_files() -> None:
    raw = (
        b'From: a@b.example\r\nContent-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary="s"'
        b"\r\n\r\n--s\r\nContent-Type: text/plain\r\n\r\nSigned words.\r\n"
        b'--s\r\nContent-Type: application/pkcs7-signature; name="smime.p7s"\r\nContent-Transfer-Encoding: base64'
        b"\r\n\r\nMIIG\r\n--s--\r\n"
    )
    parsed = parse_email(raw)
    assert (parsed.text, parsed.files) == ("Signed words.", ())


def test_nesting_beyond_the_limit_is_reported_not_fatal() -> None:
    depth = 40
    raw = b"From: a@b.example\r\nSubject: deep\r\n"
    for i in range(depth):
        raw += f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'.encode()
    raw += b"Content-Type: text/plain\r\n\r\ndeep text\r\n"
    for i in reversed(range(depth)):
        raw += f"--b{i}--\r\n".encode()
    parsed = parse_email(raw)
    assert parsed.text == ""
    assert parsed.defects == ("MIME parts nested deeper than 16 levels were not read",)


def test_inline_text_attachment_with_a_filename_is_a_file_not_body() -> None:
    raw = (
        b'From: a@b.example\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nNotes attached.\r\n"
        b'--b\r\nContent-Type: text/plain; name="notes.txt"\r\nContent-Disposition: inline; filename="notes.txt"\r\n'
        b"\r\nbus notes\r\n--b--\r\n"
    )
    parsed = parse_email(raw)
    assert parsed.text == "Notes attached."
    assert [(f.filename, f.data, f.inline) for f in parsed.files] == [("notes.txt", b"bus notes", True)]
