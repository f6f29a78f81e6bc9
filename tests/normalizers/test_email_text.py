"""Quoted history, forwards and signatures removed from a reply's text; subject prefixes and tokens."""

from __future__ import annotations

import pytest

from normalizers.email import parse_email, strip_subject_prefixes
from normalizers.email_text import new_content, unflow

NEW = "The bus did not stop at Elm Street today."

QUOTED_SHAPES = {
    "gmail": f"{NEW}\n\nOn Tue, Jan 2, 2024 at 9:14 AM Ana Lopez <ana@example.org> wrote:\n\n> Hello\n> Bye\n",
    "gmail wrapped over two lines": (
        f"{NEW}\n\nOn Tue, Jan 2, 2024 at 9:14 AM District Help Desk <help@district.example.org>\nwrote:\n\n> Hello\n"
    ),
    "gmail wrapped inside the address": (
        f"{NEW}\n\nOn Tue, Jan 2, 2024 at 9:14 AM District Help Desk <\nhelp@district.example.org> wrote:\n> Hi\n"
    ),
    "gmail spanish": f"{NEW}\n\nEl mar, 2 ene 2024 a las 9:14, Ana (<a@b.example>) escribió:\n\n> Hola\n",
    "gmail french": f"{NEW}\n\nLe mar. 2 janv. 2024 à 09:14, Ana <a@b.example> a écrit :\n\n> Bonjour\n",
    "gmail vietnamese": f"{NEW}\n\nVào Th 3, 2 thg 1, 2024 lúc 09:14 Ana <a@b.example> đã viết:\n\n> Chào\n",
    "gmail chinese": f"{NEW}\n\nAna <a@b.example> 于2024年1月2日周二 09:14写道：\n\n> 你好\n",
    "apple mail": f"{NEW}\n\nOn Jan 2, 2024, at 9:14 AM, Ana <a@b.example> wrote:\n\n> Hello\n",
    "thunderbird": f"{NEW}\n\nOn 1/2/24 9:14 AM, Ana wrote:\n> Hello\n",
    "outlook header block": (
        f"{NEW}\n\nFrom: Help Desk <help@district.example.org>\nSent: Tuesday, January 2, 2024 9:14 AM\n"
        "To: Ana <a@b.example>\nSubject: Re: bus\n\nHello Ana\n"
    ),
    "outlook header block after a rule": (
        f"{NEW}\n\n________________________________\nFrom: Help Desk <help@district.example.org>\n"
        "Sent: Tuesday, January 2, 2024 9:14 AM\nTo: Ana <a@b.example>\nSubject: Re: bus\n\nHello Ana\n"
    ),
    "outlook header block in bold (as Gmail shows it)": (
        f"{NEW}\n\n*From:* Help Desk <help@district.example.org>\n*Sent:* Tuesday, January 2, 2024 9:14 AM\n"
        "*To:* Ana <a@b.example>\n*Subject:* Re: bus\n\nHello Ana\n"
    ),
    "outlook spanish": (
        f"{NEW}\n\nDe: Oficina <help@district.example.org>\nEnviado: martes, 2 de enero de 2024 9:14\n"
        "Para: Ana <a@b.example>\nAsunto: Re: autobús\n\nHola Ana\n"
    ),
    "outlook original message": (
        f"{NEW}\n\n-----Original Message-----\nFrom: Help Desk\nSent: Tuesday\nTo: Ana\nSubject: bus\n\nHello\n"
    ),
    "spanish original message": f"{NEW}\n\n-----Mensaje original-----\nDe: Oficina\n\nHola\n",
    "android original message": f"{NEW}\n\n-------- Original message --------\nFrom: Help Desk\n\nHello\n",
    "quoted lines only": f"{NEW}\n> Hello\n> Bye\n",
    "signature delimiter": f"{NEW}\n\n-- \nAna Lopez\nRoom parent, Lincoln Elementary\n",
    "signature delimiter without its space": f"{NEW}\n\n--\nAna Lopez\n",
    "sent from my iphone": f"{NEW}\n\nSent from my iPhone\n",
    "sent from my samsung": f"{NEW}\n\nSent from my Samsung Galaxy smartphone.\n",
    "sent from my android": f"{NEW}\n\nSent from my Android device\n",
    "get outlook for ios": f"{NEW}\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n",
    "enviado desde mi iphone": f"{NEW}\n\nEnviado desde mi iPhone\n",
    "mobile signature above the quote": f"{NEW}\n\nEnviado desde mi iPhone\n\nEl 2 ene 2024, a las 9:14, Ana <a@b.example> escribió:\n\n> Hola\n",  # noqa: E501
    "gmail forward": (
        f"{NEW}\n\n---------- Forwarded message ---------\nFrom: Transit <t@transit.example>\n"
        "Date: Mon, Jan 8, 2024\nSubject: Route\nTo: <p@transit.example>\n\nStop 22 moves.\n"
    ),
    "apple forward": (
        f"{NEW}\n\nBegin forwarded message:\n\nFrom: Transit <t@transit.example>\nSubject: Route\n\nStop 22\n"
    ),
    "spanish forward": f"{NEW}\n\n---------- Mensaje reenviado ---------\nDe: Transit\n\nParada 22\n",
    "foxmail original": f"{NEW}\n\n------------------ 原始邮件 ------------------\n发件人: x\n\n你好\n",
}


@pytest.mark.parametrize("body", QUOTED_SHAPES.values(), ids=QUOTED_SHAPES.keys())
def test_only_the_new_content_remains(body: str) -> None:
    assert new_content(body) == NEW


def test_nothing_but_a_forward_leaves_nothing_so_the_caller_keeps_the_whole_text() -> None:
    assert new_content("---------- Forwarded message ---------\nFrom: x <x@y.example>\n\nStop 22 moves.\n") == ""


def test_a_bottom_posted_answer_under_the_quote_is_kept() -> None:
    body = f"On Tue, Jan 2, 2024 at 9:14 AM Ana <a@b.example> wrote:\n> Is the bus late?\n\n{NEW}\n"
    assert new_content(body) == NEW


def test_interleaved_answers_are_kept_and_quotes_dropped() -> None:
    body = "> Which stop?\nElm Street.\n> What time?\n7:05.\n"
    assert new_content(body) == "Elm Street.\n7:05."


def test_a_sentence_that_merely_mentions_writing_is_not_an_attribution() -> None:
    body = "On Monday my son wrote a note to his teacher about the bus.\nShe never answered."
    assert new_content(body) == body


def test_a_from_line_without_the_rest_of_a_header_block_is_content() -> None:
    body = "From: the front office, nobody called us back.\nPlease call today."
    assert new_content(body) == body


def test_a_message_that_is_only_a_signature_falls_back_to_the_whole_text() -> None:
    raw = b"From: a@b.example\r\nSubject: x\r\nMessage-ID: <1@b.example>\r\n\r\n-- \r\nAna Lopez\r\nRoom parent\r\n"
    parsed = parse_email(raw)
    assert parsed.text == parsed.full_text == "-- \nAna Lopez\nRoom parent"


def test_a_forward_without_a_note_falls_back_to_the_forwarded_text() -> None:
    raw = (
        b"From: a@b.example\r\nSubject: Fwd: Route\r\n\r\n---------- Forwarded message ---------\r\n"
        b"From: Transit <t@transit.example>\r\nSubject: Route\r\n\r\nStop 22 moves to Pine Road.\r\n"
    )
    parsed = parse_email(raw)
    assert "Stop 22 moves to Pine Road." in parsed.text
    assert parsed.text == parsed.full_text


def test_format_flowed_lines_are_joined_and_quote_depth_respected() -> None:
    flowed = "This line goes \non here.\n> quoted goes \n> on too.\n-- \nsig"
    assert unflow(flowed) == "This line goes on here.\n> quoted goes on too.\n-- \nsig"
    assert unflow("no space \nhere", delsp=True) == "no spacehere"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: bus", "bus"),
        ("RE: RE: Fwd: bus", "bus"),
        ("FW: bus", "bus"),
        ("AW: WG: bus", "bus"),
        ("SV: VS: bus", "bus"),
        ("RV: Enc: bus", "bus"),
        ("Antw: bus", "bus"),
        ("Rif: R: bus", "bus"),
        ("TR: RE : bus", "bus"),
        ("Re[2]: bus", "bus"),
        ("Re(3): bus", "bus"),
        ("回复：答复: bus", "bus"),
        ("转发: bus", "bus"),
        ("Trả lời: bus", "bus"),
        ("[#1234] Re: bus", "bus"),
        ("Re: [#1234] bus", "bus"),
        ("Re: bus [#1234]", "bus"),
        ("  Re:   the   bus  ", "the bus"),
        ("Réf : bus", "bus"),
        ("Recess schedule", "Recess schedule"),
        ("Fwdnotaprefix", "Fwdnotaprefix"),
        ("[PTA] bake sale", "[PTA] bake sale"),
        ("", ""),
    ],
)
def test_subject_prefixes_and_ticket_tags_are_stripped(subject: str, expected: str) -> None:
    assert strip_subject_prefixes(subject) == expected
