"""The email normalizer over recorded messages (tests/payloads/email, shapes described in NOTES.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from normalizers.email import ParsedEmail, UnparseableEmail, dmarc_fail_from, parse_email

SAMPLES = Path(__file__).parent.parent / "payloads" / "email"
BORDER = "mx.district.example.org"


@dataclass(frozen=True)
class Expected:
    file: str
    text: str
    subject: str
    from_addr: str
    message_id: str | None
    language: str | None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    files: tuple[tuple[str, int, bool], ...] = ()  # (name, size, inline); size -1: not asserted
    flags: dict[str, object] = field(default_factory=dict)  # AutoFlags fields that are not their default
    subject_token: str | None = None
    plus_token: str | None = None
    charset_fallback: bool = False
    html: bool = False
    dmarc_fail: bool = False


CASES = [
    Expected(
        "outlook_html_reply.eml",
        "Hi Ms. Rivera,\n\n"
        "The new charger still doesn\u2019t work. The light on the Chromebook stays off when it\u2019s plugged in.\n"
        "Can Maya bring it to the library (https://district.example.org/library) on Friday morning?\n\n"
        "Thanks,\nDavid Nguyen",
        subject="RE: Chromebook charger not working",
        from_addr="dnguyen@parents.example.com",
        message_id="BN8PR12MB3587C2E4F0D7A1B2C3D4E5F6A7B8@BN8PR12MB3587.namprd12.prod.outlook.example.com",
        language="en",
        in_reply_to="ticket-4821-1@district.example.org",
        references=("ticket-4821-1@district.example.org",),
        flags={"message_id_domain": "bn8pr12mb3587.namprd12.prod.outlook.example.com"},
        html=True,
    ),
    Expected(
        "gmail_reply_en.eml",
        "Thank you! Leo will be at the stop on Oak Street at 7:05 tomorrow.\n\n"
        "Is the bus going to be late again this week?",
        subject="Re: Bus 14 stop change",
        from_addr="maria.lopez.family@gmail.example.com",
        message_id="CAKq7bHgX1u4K9dQ0p3m7rL5TzVb2nWcY8fA@mail.gmail.example.com",
        language="en",
        in_reply_to="ticket-1187-2@district.example.org",
        references=("CAKq7bHj8z3Yt0sR2@mail.gmail.example.com", "ticket-1187-2@district.example.org"),
        html=True,
    ),
    Expected(
        "gmail_reply_es.eml",
        "Buenos días, mi hija Sofía no tiene transporte para la excursión del viernes. "
        "¿Puede ir en el autobús de la escuela?\n\nGracias,\nCarmen",
        subject="Re: Excursión al museo",
        from_addr="carmen.ruiz@gmail.example.com",
        message_id="CAJ2mF0r7Q4w1Yd8kS6eN3pLq@mail.gmail.example.com",
        language="es",
        in_reply_to="ticket-1190-1@district.example.org",
        references=("ticket-1190-1@district.example.org",),
        html=True,
    ),
    Expected(
        "ios_reply.eml",
        "Yes, she will be there. Thank you for checking.",
        subject="Re: Make-up test",
        from_addr="pshah@icloud.example.com",
        message_id="9F2A41C6-3B7E-4D21-8F0A-5C1E2D3B4A59@icloud.example.com",
        language="en",
        in_reply_to="ticket-1201-1@district.example.org",
        references=("ticket-1201-1@district.example.org",),
    ),
    Expected(
        "outlook_es_latin1.eml",
        "Buenas tardes:\n\nMi hijo Andrés perdió su credencial de estudiante. ¿Dónde puede pedir una nueva?\n\n"
        "Saludos,\nRosa Jiménez",
        subject="RE: Credencial",
        from_addr="rjimenez@correo.example.net",
        message_id="000001da3dc2$5a1b2c30$0e518490$@correo.example.net",
        language="es",
        in_reply_to="ticket-1195-2@district.example.org",
        references=("ticket-1195-1@district.example.org", "ticket-1195-2@district.example.org"),
    ),
    Expected(
        "cp1252_labelled_utf8.eml",
        "Hello,\n\nMy son\u2019s lunch account shows a $12.50 charge for \u201cextra milk\u201d "
        "that he didn\u2019t buy. Could someone in the café office check it?\n\nThank you,\nLinda Park",
        subject="RE: Lunch balance",
        from_addr="lpark@home.example.com",
        message_id="002101da42f1$0b8c4d10$22a4e730$@home.example.com",
        language="en",
        in_reply_to="ticket-1302-1@district.example.org",
        charset_fallback=True,
    ),
    Expected(
        "gmail_forward.eml",
        "Please see the message below from the bus company. The new stop they mention is not safe for kids, "
        "there is no sidewalk on Pine Road.",
        subject="Fwd: Route change for stop 22",
        from_addr="tbecker.home@gmail.example.com",
        message_id="CAP4x9Kd2nR8tQ1wZ5vL0eM@mail.gmail.example.com",
        language="en",
        in_reply_to="20240108223000.4A1B2@transit.example.com",
        references=("20240108223000.4A1B2@transit.example.com",),
        html=True,
    ),
    Expected(
        "exchange_out_of_office.eml",
        "I am out of the office until Monday, January 15 with limited access to email. "
        "For urgent matters please call the front desk at (555) 010-2000.",
        subject="Automatic reply: Field trip permission form",
        from_addr="gokafor@employer.example.com",
        message_id="7e1c3b5a2d8f4e6a9b0c1d2e3f4a5b6c@EX01.employer.example.com",
        language="en",
        in_reply_to="ticket-1320-1@district.example.org",
        references=("ticket-1320-1@district.example.org",),
        flags={"auto_submitted": True, "auto_reply": True, "null_return_path": True},
        html=True,
    ),
    Expected(
        "vacation_x_autoreply.eml",
        "Thanks for your email. I am traveling until January 20 and will reply when I return.",
        subject="Re: Lunch balance",
        from_addr="lpark@home.example.com",
        message_id="vacation.1704878120.31337@home.example.com",
        language="en",
        in_reply_to="ticket-1302-2@district.example.org",
        flags={"auto_reply": True},
    ),
    Expected(
        "mailing_list.eml",
        "Hi families,\n\nThe bake sale is on Friday, January 19 after school. We still need volunteers for the "
        "3:00-4:00 shift. Sign up here: https://pta.example.org/signup\n\nThank you!\nLincoln PTA",
        subject="[Lincoln PTA] Bake sale volunteers needed",
        from_addr="president@pta.example.org",
        message_id="7d1f9a2c-3b4e-4f5a-8c6d-0e1f2a3b4c5d@groups.example.org",
        language="en",
        flags={"bulk": True},
        html=True,
    ),
    Expected(
        "dsn_bounce.eml",
        "This is the mail system at host mx.district.example.org.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n\n"
        "For further assistance, please send mail to postmaster.\n\n"
        "If you do so, please include this problem report. You can\n"
        "delete your own text from the attached returned message.\n\n"
        "                   The mail system\n\n"
        "<jsmith@unknown-domain.example.net>: host\n"
        "    mx.unknown-domain.example.net[192.0.2.25] said: 550 5.1.1\n"
        "    <jsmith@unknown-domain.example.net>: Recipient address rejected: User\n"
        "    unknown (in reply to RCPT TO command)",
        subject="Undelivered Mail Returned to Sender",
        from_addr="mailer-daemon@mx.district.example.org",
        message_id="20240111160512.5B7E2A0B8F@mx.district.example.org",
        language="en",
        files=(("delivery-status.txt", -1, False), ("original-headers.txt", -1, False)),
        flags={
            "auto_submitted": True,
            "auto_reply": True,
            "bounce": True,
            "null_return_path": True,
            "bounced_recipients": ("jsmith@unknown-domain.example.net",),
        },
    ),
    Expected(
        "foxmail_gbk.eml",
        "老师您好：\n\n我的孩子王喆在三年级二班，这个星期每天早上校车都晚到二十分钟。请问可以调整接送时间吗？\n\n谢谢！\n王丽",
        subject="回复：校车时间",
        from_addr="wang.li@mail.example.cn",
        message_id="tencent_5B1E2F3A4C5D6E7F8A9B0C1D@qq.example.cn",
        language="zh",
        in_reply_to="ticket-1290-1@district.example.org",
    ),
    Expected(
        "vietnamese_cp1258.eml",
        "Kính gửi nhà trường,\n\nCon tôi là Trần Minh Khoa, học lớp 4B. Hôm nay cháu bị sốt nên sẽ nghỉ học. "
        "Xin thầy cô cho cháu bài tập về nhà.\n\nXin cảm ơn,\nTrần Thị Hoa",
        subject="Xin phép cho con nghỉ học",
        from_addr="hoa.tran@mail.example.vn",
        message_id="20240115190538.7731@mail.example.vn",
        language="vi",
    ),
    Expected(
        "inline_image_and_pdf.eml",
        "Here is a photo of where the bus stopped today, across the busy road from the stop.\n"
        "[image: bus-stop.png]\n\nI also attached the signed permission slip for the museum trip.\n\nThanks,\nKevin",
        subject="Bus stopped on the wrong side of the road",
        from_addr="kevin.osei@gmail.example.com",
        message_id="CAH5kT2pW9xQ3nB7@mail.gmail.example.com",
        language="en",
        files=(("bus-stop.png", 73, True), ("permission-slip.pdf", 477, False)),
        html=True,
    ),
    Expected(
        "rfc822_attachment.eml",
        "The teacher sent this to us but the reading log link does not open on our tablet. Can you help?\n\nSam",
        subject="FW: Reading log assignment",
        from_addr="swhitfield@parents.example.com",
        message_id="DM6PR10MB4123A1B2C3D4E5F6@DM6PR10MB4123.namprd10.prod.outlook.example.com",
        language="en",
        files=(("Reading log assignment.eml", -1, False), ("reading-log.pdf", 466, False)),
    ),
    Expected(
        "outlook_winmail_dat.eml",
        "Please see the two files the tech team asked for.\n\nRob",
        subject="Files for the tech team",
        from_addr="rhart@parents.example.com",
        message_id="000c01da4e1f$8a9b0c1d$9fb12430$@parents.example.com",
        language="en",
        files=(("AUTHORS", 244, False), ("README", 893, False)),
    ),
    Expected(
        "rfc2047_rfc2231.eml",
        "Buenos días, adjunto el informe médico de Lucía y la carta de la doctora sobre sus alergias. "
        "Por favor compártanlos con la enfermera de la escuela.\n\nGracias,\nJosé Pérez",
        subject="Informe médico de Lucía \u2014 alergias",
        from_addr="jose.perez@correo.example.net",
        message_id="5f0e8c1a-2b3d-4e5f-9a0b-1c2d3e4f5a6b@correo.example.net",
        language="es",
        files=(
            ("Informe médico Lucía.pdf", 460, False),
            ("Carta de la doctora \u2014 alergias 2024.pdf", 465, False),
            ("Vacunación.jpg", 22, False),
        ),
    ),
    Expected(
        "subject_token.eml",
        "The bus was late again this morning, about twenty five minutes. The children waited outside in the cold.",
        subject="[#1234] Re: bus",
        from_addr="amoreau@home.example.com",
        message_id="relay.8c1d2e3f@home.example.com",
        language="en",
        subject_token="1234",
    ),
    Expected(
        "plus_token.eml",
        "Bonjour, mon fils n'a toujours pas reçu son ordinateur portable pour l'école. Merci de votre aide.",
        subject="Réf. : Votre demande a été reçue",
        from_addr="claire.dubois@mail.example.fr",
        message_id="a7f3c9e2-1d4b-4c8a-9e6f-2b5d8c1a3e7f@mail.example.fr",
        language="fr",
        plus_token="K7QM2XPA",
    ),
    Expected(
        "no_message_id.eml",
        "The scanner in the Lincoln front office jams on every page and prints a paper jam error on tray two.",
        subject="Scanned document from Lincoln front office",
        from_addr="scanner@lincoln.district.example.org",
        message_id=None,
        language="en",
        flags={"message_id_domain": None},
    ),
    Expected(
        "spoofed_dmarc_fail.eml",
        "Are you available? I need you to handle a task for me discreetly before the board meeting. "
        "Reply with your cell number.",
        subject="Quick task",
        from_addr="principal@district.example.org",
        message_id="20240124110230.99881@vps-4411.hosting.example.net",
        language="en",
        dmarc_fail=True,
    ),
]


def _parse(case: Expected) -> ParsedEmail:
    return parse_email((SAMPLES / case.file).read_bytes())


@pytest.mark.parametrize("case", CASES, ids=[c.file for c in CASES])
def test_sample_gives_the_new_text_and_its_facts(case: Expected) -> None:
    parsed = _parse(case)
    assert parsed.text == case.text
    assert parsed.subject == case.subject
    assert parsed.from_addr == case.from_addr
    assert parsed.message_id == case.message_id
    assert parsed.in_reply_to == case.in_reply_to
    assert parsed.references == case.references
    assert parsed.language == case.language
    assert parsed.subject_token == case.subject_token
    assert parsed.plus_token == case.plus_token
    assert (parsed.html is not None) == case.html
    assert bool(parsed.charset_fallbacks) == case.charset_fallback
    assert dmarc_fail_from(parsed.authentication_results, BORDER) == case.dmarc_fail
    assert parsed.defects == ()


@pytest.mark.parametrize("case", CASES, ids=[c.file for c in CASES])
def test_sample_lists_every_file_with_its_size(case: Expected) -> None:
    files = _parse(case).files
    assert [(f.filename, f.inline) for f in files] == [(name, inline) for name, _, inline in case.files]
    sizes = [(f.filename, f.size) for f, (_, size, _) in zip(files, case.files, strict=True) if size >= 0]
    assert sizes == [(name, size) for name, size, _ in case.files if size >= 0]


@pytest.mark.parametrize("case", CASES, ids=[c.file for c in CASES])
def test_sample_flags(case: Expected) -> None:
    auto = _parse(case).auto
    domain = case.message_id.rsplit("@", 1)[1].lower() if case.message_id else None
    expected = {
        "auto_submitted": False,
        "auto_reply": False,
        "bulk": False,
        "bounce": False,
        "null_return_path": False,
        "bounced_recipients": (),
        "message_id_domain": domain,
        **case.flags,
    }
    assert {name: getattr(auto, name) for name in expected} == expected
    assert auto.automatic == any(
        expected[n] for n in ("auto_submitted", "auto_reply", "bulk", "bounce", "null_return_path")
    )


def test_full_text_keeps_the_quoted_history_that_text_drops() -> None:
    parsed = parse_email((SAMPLES / "gmail_reply_en.eml").read_bytes())
    assert "Bus 14 will pick up from the new stop" in parsed.full_text
    assert "Bus 14 will pick up" not in parsed.text


def test_forwarded_content_is_kept_in_full_text() -> None:
    parsed = parse_email((SAMPLES / "gmail_forward.eml").read_bytes())
    assert "stop 22 moves to the corner of Pine Road and 5th Avenue" in parsed.full_text


def test_outlook_html_quoted_block_is_cut_at_divrplyfwdmsg_but_kept_in_full_text() -> None:
    parsed = parse_email((SAMPLES / "outlook_html_reply.eml").read_bytes())
    assert "we sent a replacement charger home with Maya" in parsed.full_text
    assert "From: District Help Desk <help@district.example.org>" in parsed.full_text
    assert "replacement" not in parsed.text


def test_sanitized_html_keeps_cid_images_and_drops_remote_images_and_handlers() -> None:
    inline = parse_email((SAMPLES / "inline_image_and_pdf.eml").read_bytes())
    assert inline.html is not None and 'src="cid:ii_lr3k9x0a0"' in inline.html
    newsletter = parse_email((SAMPLES / "mailing_list.eml").read_bytes())
    assert newsletter.html is not None
    assert "open.gif" not in newsletter.html
    assert "onclick" not in newsletter.html
    assert 'href="https://pta.example.org/signup"' in newsletter.html


def test_outlook_html_has_no_style_or_office_markup_left() -> None:
    parsed = parse_email((SAMPLES / "outlook_html_reply.eml").read_bytes())
    assert parsed.html is not None
    for leftover in ("<style", "font-family", "<o:p", "mso-", "<title", "Chromebook</title>", "<script"):
        assert leftover not in parsed.html
    assert "font-family" not in parsed.full_text and "@font-face" not in parsed.full_text


def test_attached_message_is_kept_as_eml_and_its_text_is_in_full_text() -> None:
    parsed = parse_email((SAMPLES / "rfc822_attachment.eml").read_bytes())
    eml = parsed.files[0]
    assert eml.declared_type == "message/rfc822"
    inner = parse_email(eml.data)
    assert inner.subject == "Reading log assignment"
    assert [f.filename for f in inner.files] == ["reading-log.pdf"]
    assert "---------- Attached message ----------\nFrom: Mr. Tran <ttran@district.example.org>" in parsed.full_text
    assert "https://district.example.org/reading-log" in parsed.full_text
    assert "reading-log" not in parsed.text


def test_winmail_dat_files_come_out_with_their_bytes() -> None:
    parsed = parse_email((SAMPLES / "outlook_winmail_dat.eml").read_bytes())
    assert parsed.files[0].data.strip().startswith(b"Authors of tnef")
    assert all(f.filename != "winmail.dat" for f in parsed.files)


def test_bounce_keeps_the_delivery_report_as_a_file() -> None:
    parsed = parse_email((SAMPLES / "dsn_bounce.eml").read_bytes())
    report = parsed.files[0].data.decode()
    assert "Final-Recipient: rfc822; jsmith@unknown-domain.example.net" in report
    assert "Action: failed" in report


def test_date_is_utc() -> None:
    parsed = parse_email((SAMPLES / "foxmail_gbk.eml").read_bytes())
    assert parsed.date == datetime(2024, 1, 9, 1, 20, 30, tzinfo=UTC)


def test_plus_address_is_read_from_the_mailbox_address() -> None:
    parsed = parse_email((SAMPLES / "plus_token.eml").read_bytes())
    assert parsed.delivered_to == ("help+k7qm2xpa@district.example.org",)
    assert parsed.to == ("help+k7qm2xpa@district.example.org",)


def test_names_and_reply_to_are_decoded() -> None:
    spoof = parse_email((SAMPLES / "spoofed_dmarc_fail.eml").read_bytes())
    assert spoof.from_name == "Dr. Evelyn Moss, Principal"
    assert spoof.reply_to == "principal.moss.office@freemail.example.com"
    assert parse_email((SAMPLES / "foxmail_gbk.eml").read_bytes()).from_name == "王丽"
    assert parse_email((SAMPLES / "vietnamese_cp1258.eml").read_bytes()).from_name == "Trần Thị Hoa"


def test_binary_blob_without_headers_is_unparseable() -> None:
    with pytest.raises(UnparseableEmail):
        parse_email((SAMPLES / "unparseable.bin").read_bytes())


def test_every_sample_is_covered_by_a_case() -> None:
    covered = {c.file for c in CASES} | {"unparseable.bin", "NOTES.md"}
    assert {p.name for p in SAMPLES.iterdir()} == covered
