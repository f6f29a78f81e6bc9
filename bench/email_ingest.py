"""Email ingestion: messages/s through the real IMAP poller, next to a bare aioimaplib fetch-and-parse loop.

One run, one Dovecot, the same mixed mail (plain, Outlook HTML, multipart/alternative, attachments, replies,
Spanish/Vietnamese/Chinese, legacy charsets; seeded, so every run sees the same bytes):

1. ceiling: a bare aioimaplib loop (the library the gateway uses) that SELECTs the INBOX, UID SEARCHes it,
   UID FETCHes (UID BODY.PEEK[]) in batches of `channels.email.fetch_batch` and parses each message with
   `email.message_from_bytes(raw, policy=email.policy.default)`, and does nothing else -> ceiling_messages_per_s;
2. gateway: the real `python -m gateway.cli --config X mail` with its own redis-server (appendonly yes,
   appendfsync always). It is started on a warm-up mailbox, and once it is idle the measured messages are
   copied into its INBOX in one IMAP command; the clock runs from that command until every message is
   committed (LLEN rq:queue:deliver-builtin) and moved (Processed) -> messages_per_s.

The measured code (the ceiling loop, then the gateway process) runs on one cpu, Dovecot, Redis and this
script's own bookkeeping on the others. Progress goes to stderr; one JSON line goes to stdout (bench/README.md).

    .venv/bin/python bench/email_ingest.py [--messages 2000] [--profile /tmp/mail.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import email
import email.policy
import hashlib
import imaplib
import json
import os
import platform
import quopri
import random
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, TextIO

import redis
import yaml
from aioimaplib import aioimaplib

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.support: the same Dovecot, Redis and configuration the tests use

from gateway.keys import mail_health as health_key  # noqa: E402
from tests.channels.email_support import BORDER, HELP, mailbox_conf  # noqa: E402
from tests.mail_fixtures import IMAP_PASSWORD, IMAP_USER  # noqa: E402
from tests.support.dovecot import Dovecot  # noqa: E402
from tests.support.gateway import write_config  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

# The targets: at least half the bare loop's rate, and at least 300 messages/s.
TARGET_RATIO = 0.5
TARGET_PER_S = 300.0
CEILING_USER, CEILING_PASSWORD = "ceiling", "ceiling-pw"
MAILBOX = "help"  # the mailbox's name in the gateway's configuration
STAGING = "Staging"  # the measured messages wait here, then arrive in the INBOX in one COPY
DELIVER_QUEUE = "rq:queue:deliver-builtin"  # no worker runs: every committed message stays on it
DEDUPE_PATTERN = "ig:dedupe:*"
CONTENDED_SHARE = 0.25
SCRUBBED_ENV = ("INTAKE_", "REDIS_", "PORT", "HOST", "PUBLIC_BASE_URL", "TWILIO_", "SLACK_", "META_", "WHATSAPP_")
_LITERAL = re.compile(rb"\{(\d+)\}$")


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    """The bench could not run (a missing tool, a server that did not start, a run that never finished)."""


# --------------------------------------------------------------------------------------------------
# The mail: deterministic, mixed like a district help desk's inbox.
# --------------------------------------------------------------------------------------------------

FIRST = ("Ana", "Maria", "José", "Linh", "Minh", "Wei", "Fatima", "John", "Sarah", "Luis", "Thu", "Ahmed", "Emily",
         "Carlos", "Hoa", "Grace", "Daniel", "Rosa", "Kevin", "Mai", "Jennifer", "Omar", "Lucía", "David")  # fmt: skip
LAST = ("Pérez", "Nguyen", "Garcia", "Tran", "Smith", "Hernández", "Le", "Johnson", "Lopez", "Pham", "Chen",
        "Martinez", "Williams", "Hassan", "Rodriguez", "Brown", "Vu", "Wang", "Davis", "Torres")  # fmt: skip
DOMAINS = ("gmail.example", "outlook.example", "yahoo.example", "icloud.example", "example.org", "comcast.example")
SCHOOLS = ("Lincoln High School", "Washington Middle School", "Jefferson Elementary")
TOPICS_EN = (
    ("Chromebook will not charge", "my son's Chromebook stopped charging yesterday. The light on the charger "
     "does not come on and the laptop is dead this morning."),
    ("Password reset for my daughter", "my daughter cannot log in to her school account. She says the password "
     "was changed and she does not remember the new one."),
    ("Bus 14 was late again", "the bus on route 14 was more than twenty minutes late this morning and the kids "
     "waited in the cold. This is the third time this week."),
    ("Cannot log in to the parent portal", "I am trying to see my child's grades on the parent portal but it says "
     "my account is locked. I tried the reset link twice."),
    ("Wi-Fi hotspot request", "we do not have internet at home right now. Is it possible to borrow a hotspot so "
     "my kids can do their homework?"),
    ("Enrollment documents for new student", "we just moved to the district and I need to know which documents to "
     "bring to enroll my two children. I have the lease and their birth certificates."),
    ("Broken screen on school laptop", "my son dropped his laptop and the screen is cracked. What do we need to do "
     "to get it repaired, and is there a fee?"),
    ("Lunch account balance", "the lunch account shows a negative balance but I added money last Friday. Can "
     "someone check the payment?"),
    ("Teacher email bounced", "I sent an email to my son's math teacher and it came back as undeliverable. Could "
     "you tell me the right address?"),
    ("Schoology shows the wrong class", "my daughter's schedule in Schoology still shows last semester's classes "
     "and she cannot find her assignments."),
)  # fmt: skip
MORE_EN = (
    "He has a test tomorrow and needs it.", "Please let me know what to do next.",
    "I can come to the school office after 3 pm if that helps.", "The serial number on the back is 5CD12{n:04d}.",
    "My phone number is (555) 01{n:02d}-{m:04d}.", "Student ID is 40{n:05d}.",
    "I already called the front office but nobody answered.", "Thank you for your help with this.",
    "We also tried restarting it a few times.", "Is there a form I need to fill out?",
)  # fmt: skip
TOPICS_ES = (
    ("La computadora de mi hijo no enciende", "la computadora de la escuela de mi hijo no enciende desde ayer. "
     "Ya la conectamos toda la noche y no pasa nada."),
    ("No puedo entrar al portal de padres", "no puedo entrar al portal de padres para ver las calificaciones de mi "
     "hija. Dice que mi contraseña es incorrecta."),
    ("El autobús no pasó esta mañana", "el autobús de la ruta 7 no pasó esta mañana y mis hijos llegaron tarde a "
     "la escuela. ¿Hubo algún cambio de horario?"),
    ("Inscripción de un nuevo estudiante", "acabamos de llegar al distrito y quiero inscribir a mis dos hijos. "
     "¿Qué documentos necesito llevar a la oficina?"),
)  # fmt: skip
MORE_ES = ("Muchas gracias por su ayuda.", "Por favor llámeme al (555) 01{n:02d}-{m:04d}.",
           "Mi hijo necesita la computadora para un examen mañana.",
           "Puedo ir a la oficina después de las 3.")  # fmt: skip
TOPICS_VI = (
    ("Máy tính của con tôi không sạc được", "máy tính của con trai tôi không sạc được từ hôm qua. Đèn sạc không "
     "sáng và máy không mở lên được."),
    ("Tôi quên mật khẩu cổng phụ huynh", "tôi quên mật khẩu để vào cổng thông tin phụ huynh. Tôi đã thử đặt lại "
     "mật khẩu nhưng không nhận được email."),
    ("Xe buýt đến trễ", "xe buýt tuyến 14 đến trễ hơn hai mươi phút sáng nay và các cháu phải đứng chờ ngoài trời "
     "lạnh."),
)  # fmt: skip
MORE_VI = ("Xin cảm ơn quý vị rất nhiều.", "Số điện thoại của tôi là (555) 01{n:02d}-{m:04d}.",
           "Cháu cần máy tính để làm bài kiểm tra ngày mai.")  # fmt: skip
# (charset, transfer encoding, subject, body): what older clients and phones still send.
LEGACY = (
    ("iso-8859-1", "quoted-printable", "Problema con la contraseña de mi hija",
     "Hola,\n\nmi hija no puede iniciar sesión en su cuenta. ¿Me pueden ayudar a restablecer la contraseña?\n\n"
     "Gracias,\n{name}\n"),
    ("windows-1252", "quoted-printable", "Laptop “won’t turn on” – again",
     "Hi,\n\nmy son’s laptop won’t turn on again – it’s the second time this month. We’re at a loss…\n\n"
     "Thanks,\n{name}\n"),
    ("windows-1252", "8bit", "Café menu and lunch account",
     "Hello,\n\nthe lunch account shows €0.00 but I paid $25 on Monday — please check.\n\n{name}\n"),
    ("gb2312", "base64", "我孩子的电脑坏了",
     "您好，\n\n我孩子的学校电脑屏幕坏了，不能用了。请问我们应该怎么办？需要付费吗？\n\n谢谢，\n{name}\n"),
    ("big5", "base64", "家長入口網站無法登入",
     "您好，\n\n我無法登入家長入口網站查看孩子的成績。請幫忙重設密碼。\n\n謝謝，\n{name}\n"),
)  # fmt: skip

OUTLOOK_HEAD = """<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" \
xmlns:w="urn:schemas-microsoft-com:office:word" xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" \
xmlns="http://www.w3.org/TR/REC-html40">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<meta name="Generator" content="Microsoft Word 15 (filtered medium)">
<style><!--
/* Font Definitions */
@font-face
\t{font-family:"Cambria Math";
\tpanose-1:2 4 5 3 5 4 6 3 2 4;}
@font-face
\t{font-family:Calibri;
\tpanose-1:2 15 5 2 2 2 4 3 2 4;}
/* Style Definitions */
p.MsoNormal, li.MsoNormal, div.MsoNormal
\t{margin:0in;
\tfont-size:11.0pt;
\tfont-family:"Calibri",sans-serif;}
a:link, span.MsoHyperlink
\t{mso-style-priority:99;
\tcolor:#0563C1;
\ttext-decoration:underline;}
span.EmailStyle17
\t{mso-style-type:personal-compose;
\tfont-family:"Calibri",sans-serif;
\tcolor:windowtext;}
.MsoChpDefault
\t{mso-style-type:export-only;
\tfont-family:"Calibri",sans-serif;}
@page WordSection1
\t{size:8.5in 11.0in;
\tmargin:1.0in 1.0in 1.0in 1.0in;}
div.WordSection1
\t{page:WordSection1;}
--></style><!--[if gte mso 9]><xml>
<o:shapedefaults v:ext="edit" spidmax="1026" />
</xml><![endif]--><!--[if gte mso 9]><xml>
<o:shapelayout v:ext="edit">
<o:idmap v:ext="edit" data="1" />
</o:shapelayout></xml><![endif]-->
</head>
<body lang="EN-US" link="#0563C1" vlink="#954F72" style="word-wrap:break-word">
<div class="WordSection1">
"""
OUTLOOK_TAIL = "</div>\n</body>\n</html>\n"

# Share of each kind in the mix (the rest of the code relies on these names).
MIX: tuple[tuple[str, float], ...] = (
    ("plain", 0.26),
    ("outlook_html", 0.14),
    ("alternative", 0.20),
    ("attachment_pdf", 0.06),
    ("attachment_png", 0.06),
    ("reply_quoted", 0.08),
    ("reply_outlook", 0.06),
    ("followup", 0.04),
    ("spanish", 0.04),
    ("vietnamese", 0.03),
    ("legacy_charset", 0.03),
)


def _png(rng: random.Random, width: int = 64, height: int = 48) -> bytes:
    """A real PNG of a few KB: a gradient with noise (a screenshot of an error, say)."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            noise = rng.randrange(24)
            rows += bytes(((x * 4 + noise) & 255, (y * 5 + noise) & 255, (x * y + noise) & 255))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows))) + chunk(b"IEND", b"")
    )


def _pdf(rng: random.Random, title: str) -> bytes:
    """A small valid PDF (one page of text, a few KB): a report card, a receipt."""
    lines = [
        f"BT /F1 12 Tf 72 {720 - 16 * i} Td ({title} line {i} {rng.randrange(10**6):06d}) Tj ET" for i in range(40)
    ]
    stream = "\n".join(lines).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@dataclass
class _Sent:
    sender: str
    subject: str
    message_id: str


def _utf8_qp() -> Charset:
    cs = Charset("utf-8")
    cs.body_encoding = QP
    return cs


def _qp(body: str, subtype: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(body, _utf8_qp())
    return part


def _text(body: str, subtype: str = "plain") -> MIMENonMultipart:
    """us-ascii 7bit when it can be, else UTF-8 quoted-printable (what Gmail and Outlook send)."""
    if body.isascii() and max(map(len, body.splitlines() or [""])) <= 998:
        return MIMEText(body, subtype, "us-ascii")
    return _qp(body, subtype)


def _encoded(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()


@dataclass
class MailFactory:
    """Builds message number i of a corpus with the stdlib's MIME classes (compat32, as most mail code does).
    Every message is new mail from a parent: none is automatic, ours, or a bounce, so the gateway must commit
    every one (replies to our acknowledgements included)."""

    seed: int
    tag: str  # in every Message-ID: the warm-up and the measured corpus never collide
    rng: random.Random = field(init=False)
    start: datetime = field(default_factory=lambda: datetime(2026, 11, 16, 7, 30, tzinfo=UTC))
    sent: list[_Sent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    # -- pieces --------------------------------------------------------------------------------------

    def _person(self) -> tuple[str, str]:
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        plain = str.maketrans("éáíóúñÁÉÍÓÚ", "eaiounAEIOU")
        a_first, a_last = first.translate(plain).lower(), last.translate(plain).lower()
        local = self.rng.choice((f"{a_first}.{a_last}", f"{a_first[0]}{a_last}", f"{a_last}{self.rng.randrange(100)}"))
        return f"{first} {last}", f"{local}@{self.rng.choice(DOMAINS)}"

    def _fill(self, text: str) -> str:
        return text.format(n=self.rng.randrange(100), m=self.rng.randrange(10_000))

    def _english(self) -> tuple[str, list[str]]:
        subject, opening = self.rng.choice(TOPICS_EN)
        greeting = self.rng.choice(("Hello,", "Hi,", "Good morning,", "Dear Help Desk,", "Hi there,"))
        paragraphs = [greeting, opening[0].upper() + opening[1:]]
        paragraphs.append(" ".join(self._fill(s) for s in self.rng.sample(MORE_EN, self.rng.randrange(1, 4))))
        return subject, paragraphs

    def _signature(self, name: str) -> str:
        style = self.rng.randrange(4)
        if style == 0:
            return f"Thank you,\n{name}"
        if style == 1:
            return f"Thanks,\n{name}\nParent, {self.rng.choice(SCHOOLS)}\n(555) 01{self.rng.randrange(100):02d}-1234"
        if style == 2:
            return f"{name}\n\nSent from my iPhone"
        return f"Best regards,\n\n{name}\n--\n{self.rng.choice(SCHOOLS)} PTA volunteer"

    def _boundary(self) -> str:
        return f"000000000000{self.rng.getrandbits(48):012x}"

    def _mixed(self, parts: list[Message]) -> MIMEMultipart:
        return MIMEMultipart("mixed", boundary=self._boundary(), _subparts=parts)

    def _alternative(self, text: str, html: str) -> MIMEMultipart:
        return MIMEMultipart("alternative", boundary=self._boundary(), _subparts=[_text(text), _text(html, "html")])

    def _headers(self, index: int, sender: tuple[str, str], subject: str) -> dict[str, str]:
        when = self.start + timedelta(minutes=index * 3, seconds=self.rng.randrange(180))
        domain = sender[1].split("@")[1]
        return {
            "Return-Path": f"<{sender[1]}>",
            "Received": f"from mail.{domain} by {BORDER} with ESMTPS;\n {format_datetime(when)}",
            "Authentication-Results": f"{BORDER}; spf=pass smtp.mailfrom={sender[1]};\n dkim=pass; dmarc=pass",
            "From": formataddr(sender),  # RFC 2047 for a name that is not ASCII
            "To": formataddr(("District Help Desk", HELP)),
            "Subject": subject,
            "Date": format_datetime(when),
            "Message-ID": f"<{self.tag}.{index}.{self.rng.getrandbits(48):012x}@{domain}>",
        }

    def _finish(self, head: dict[str, str], body: Message, sender: tuple[str, str]) -> bytes:
        """Our headers first, then the MIME part (its Content-Type and transfer encoding) as the body."""
        self.sent.append(_Sent(formataddr(sender), head["Subject"], head["Message-ID"]))
        head = {**head, "Subject": _encoded(head["Subject"])}
        for part in body.walk():
            del part["MIME-Version"]  # the MIME classes put one in every part; mail has one, at the top
        top = "".join(f"{k}: {v}\n" for k, v in head.items()).encode("ascii")
        return top + b"MIME-Version: 1.0\n" + body.as_bytes()

    def _outlook_headers(self, head: dict[str, str], subject: str) -> None:
        head["Thread-Topic"] = _encoded(subject)
        head["Thread-Index"] = base64.b64encode(self.rng.randbytes(22)).decode()
        head["Accept-Language"] = "en-US"
        head["Content-Language"] = "en-US"
        head["X-MS-Has-Attach"] = ""
        head["X-MS-TNEF-Correlator"] = ""
        head["X-Originating-IP"] = f"[10.{self.rng.randrange(256)}.{self.rng.randrange(256)}.{self.rng.randrange(256)}]"

    def _outlook_html(self, paragraphs: list[str], quoted: str = "") -> str:
        body = "".join(f'<p class="MsoNormal">{p}<o:p></o:p></p>\n<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n'
                       for p in paragraphs)  # fmt: skip
        return OUTLOOK_HEAD + body + quoted + OUTLOOK_TAIL

    def _gmail_html(self, paragraphs: list[str], quoted: str = "") -> str:
        inner = "".join(f"<div>{p}</div><div><br></div>" for p in paragraphs)
        return f'<div dir="ltr">{inner}</div>{quoted}\n'

    # -- kinds ---------------------------------------------------------------------------------------

    def plain(self, i: int) -> bytes:
        sender = self._person()
        subject, paragraphs = self._english()
        head = self._headers(i, sender, subject)
        return self._finish(head, _text("\n\n".join([*paragraphs, self._signature(sender[0])]) + "\n"), sender)

    def outlook_html(self, i: int) -> bytes:
        sender = self._person()
        subject, paragraphs = self._english()
        head = self._headers(i, sender, subject)
        self._outlook_headers(head, subject)
        html = self._outlook_html([*paragraphs, self._signature(sender[0]).replace("\n", "<br>\n")])
        return self._finish(head, _qp(html, "html"), sender)

    def alternative(self, i: int, attach: str | None = None) -> bytes:
        sender = self._person()
        subject, paragraphs = self._english()
        head = self._headers(i, sender, subject)
        signature = self._signature(sender[0])
        text = "\n\n".join([*paragraphs, signature]) + "\n"
        body: Message = self._alternative(text, self._gmail_html([*paragraphs, signature.replace("\n", "<br>")]))
        if attach is not None:
            if attach == "pdf":
                name = self.rng.choice(("report_card", "bus_pass_form", "receipt", "enrollment_form"))
                file: MIMENonMultipart = MIMEApplication(_pdf(self.rng, subject), "pdf", name=f"{name}_{i}.pdf")
                file.add_header("Content-Disposition", "attachment", filename=f"{name}_{i}.pdf")
            else:
                file = MIMEImage(_png(self.rng), "png", name=f"IMG_{4000 + i}.png")
                file.add_header("Content-Disposition", "attachment", filename=f"IMG_{4000 + i}.png")
            body = self._mixed([body, file])
        return self._finish(head, body, sender)

    def _ack(self) -> tuple[int, str]:
        """A ticket number and the Message-ID of our acknowledgement, which this gateway never sent."""
        return self.rng.randrange(1000, 9999), f"<{self.rng.getrandbits(64):016x}@district.example.org>"

    def reply_quoted(self, i: int) -> bytes:
        """A parent answering our acknowledgement, from a phone or Gmail: new text on top, history quoted."""
        sender = self._person()
        subject, paragraphs = self._english()
        ticket, ours = self._ack()
        head = self._headers(i, sender, f"Re: {subject} [#{ticket}]")
        head["In-Reply-To"] = ours
        head["References"] = f"<{self.tag}.r{i}@{sender[1].split('@')[1]}>\n {ours}"
        answer = self.rng.choice(("It is still not working, any update?", "Thank you! One more question:",
                                  "We tried that and it did not help."))  # fmt: skip
        quoted = "\n".join("> " + line for line in "\n\n".join([*paragraphs, sender[0]]).splitlines())
        when = format_datetime(self.start + timedelta(minutes=i))
        text = (f"{answer} {self._fill(self.rng.choice(MORE_EN))}\n\n{sender[0]}\n\n"
                f"On {when}, District Help Desk <{HELP}> wrote:\n> Hello,\n>\n"
                f"> We received your request (ticket #{ticket}).\n> A technician will contact you.\n>\n"
                f"> Original message:\n{quoted}\n")  # fmt: skip
        if self.rng.random() < 0.5:
            return self._finish(head, _text(text), sender)
        html = self._gmail_html(
            [answer, sender[0]], f'<div class="gmail_quote"><blockquote>{quoted}</blockquote></div>'
        )
        return self._finish(head, self._alternative(text, html), sender)

    def reply_outlook(self, i: int) -> bytes:
        """The same from Outlook: HTML only, the history below a From/Sent/To/Subject block."""
        sender = self._person()
        subject, paragraphs = self._english()
        ticket, ours = self._ack()
        head = self._headers(i, sender, f"RE: {subject} [#{ticket}]")
        self._outlook_headers(head, subject)
        head["In-Reply-To"] = ours
        head["References"] = ours
        history = (
            '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0in 0in 0in">'
            f'<p class="MsoNormal"><b>From:</b> District Help Desk &lt;{HELP}&gt;<br>'
            f"<b>Sent:</b> Monday, November 16, 2026 9:14 AM<br><b>To:</b> {sender[0]} &lt;{sender[1]}&gt;<br>"
            f"<b>Subject:</b> {subject} [#{ticket}]<o:p></o:p></p></div>\n"
            f'<p class="MsoNormal">We received your request (ticket #{ticket}).<o:p></o:p></p>\n'
            + "".join(f'<p class="MsoNormal">{p}<o:p></o:p></p>\n' for p in paragraphs)
        )
        answer = [self.rng.choice(("Hello,", "Hi,")),
                  "We still have the problem. " + self._fill(self.rng.choice(MORE_EN)),
                  self._signature(sender[0]).replace("\n", "<br>")]  # fmt: skip
        return self._finish(head, _qp(self._outlook_html(answer, history), "html"), sender)

    def followup(self, i: int) -> bytes:
        """A parent following up on their own earlier message (in this corpus): it threads on that one."""
        if not self.sent:
            return self.plain(i)
        earlier = self.rng.choice(self.sent)
        sender = parseaddr(earlier.sender)
        head = self._headers(i, sender, "Re: " + earlier.subject.removeprefix("Re: "))
        head["In-Reply-To"] = earlier.message_id
        head["References"] = earlier.message_id
        text = (f"Hello again,\n\nI have not heard back about this. {self._fill(self.rng.choice(MORE_EN))}\n\n"
                f"{sender[0]}\n\n-----Original Message-----\nFrom: {earlier.sender}\nSubject: {earlier.subject}\n\n"
                "(see my previous message)\n")  # fmt: skip
        return self._finish(head, _text(text), sender)

    def _other_language(self, i: int, topics: tuple[tuple[str, str], ...], more: tuple[str, ...], hello: str) -> bytes:
        sender = self._person()
        subject, opening = self.rng.choice(topics)
        more_text = " ".join(self._fill(s) for s in self.rng.sample(more, 2))
        paragraphs = [hello, opening[0].upper() + opening[1:], more_text, sender[0]]
        head = self._headers(i, sender, subject)
        text = "\n\n".join(paragraphs) + "\n"
        body = self._alternative(text, self._gmail_html(paragraphs)) if self.rng.random() < 0.5 else _text(text)
        return self._finish(head, body, sender)

    def spanish(self, i: int) -> bytes:
        return self._other_language(i, TOPICS_ES, MORE_ES, "Buenos días,")

    def vietnamese(self, i: int) -> bytes:
        return self._other_language(i, TOPICS_VI, MORE_VI, "Xin chào,")

    def legacy_charset(self, i: int) -> bytes:
        """A single text/plain part in a legacy charset, with an RFC 2047 subject in it too, byte by byte."""
        charset, cte, subject, body = self.rng.choice(LEGACY)
        sender = self._person()
        head = self._headers(i, sender, subject)
        self.sent.append(_Sent(formataddr(sender), subject, head["Message-ID"]))
        # By hand: the stdlib would name gb2312 "eucgb2312_cn", which no mail client writes.
        head["Subject"] = f"=?{charset}?B?{base64.b64encode(subject.encode(charset)).decode()}?="
        data = body.format(name=sender[0]).encode(charset, errors="replace")
        if cte == "quoted-printable":
            payload = quopri.encodestring(data)
        elif cte == "base64":
            payload = base64.encodebytes(data)
        else:
            payload = data
        head.update({"MIME-Version": "1.0", "Content-Type": f'text/plain; charset="{charset}"',
                     "Content-Transfer-Encoding": cte})  # fmt: skip
        return "".join(f"{k}: {v}\n" for k, v in head.items()).encode("ascii") + b"\n" + payload

    def make(self, i: int, kind: str) -> bytes:
        builders: dict[str, Callable[[int], bytes]] = {
            "plain": self.plain,
            "outlook_html": self.outlook_html,
            "alternative": self.alternative,
            "attachment_pdf": lambda n: self.alternative(n, "pdf"),
            "attachment_png": lambda n: self.alternative(n, "png"),
            "reply_quoted": self.reply_quoted,
            "reply_outlook": self.reply_outlook,
            "followup": self.followup,
            "spanish": self.spanish,
            "vietnamese": self.vietnamese,
            "legacy_charset": self.legacy_charset,
        }
        return builders[kind](i)


@dataclass(frozen=True, slots=True)
class Corpus:
    messages: list[bytes]
    mix: dict[str, int]
    generate_s: float

    @property
    def total_bytes(self) -> int:
        return sum(map(len, self.messages))

    def digest(self) -> str:
        """Same seed, same bytes: this proves it across runs."""
        h = hashlib.sha256()
        for m in self.messages:
            h.update(hashlib.sha256(m).digest())
        return h.hexdigest()[:16]


def build_corpus(count: int, seed: int, tag: str) -> Corpus:
    t0 = time.perf_counter()
    factory = MailFactory(seed, tag)
    kinds = [name for name, _ in MIX]
    # Exact shares (then shuffled): the mix does not drift with the seed or the count.
    plan: list[str] = []
    for name, share in MIX:
        plan += [name] * int(count * share)
    plan += [kinds[i % len(kinds)] for i in range(count - len(plan))]
    factory.rng.shuffle(plan)
    messages = [factory.make(i, kind) for i, kind in enumerate(plan)]
    return Corpus(messages, dict(sorted(Counter(plan).items())), time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------------
# CPU placement and accounting.
# --------------------------------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Layout:
    measured_cpu: int | None  # the ceiling loop and the gateway process
    other_cpus: frozenset[int] | None  # Dovecot, Redis, this script's waiting and polling
    unpinned_because: str = ""

    def describe(self) -> dict[str, Any]:
        if self.measured_cpu is None or self.other_cpus is None:
            return {"pinned": False, "note": f"nothing pinned: {self.unpinned_because}"}
        others = ",".join(map(str, sorted(self.other_cpus)))
        return {
            "pinned": True,
            "measured_cpu": self.measured_cpu,
            "dovecot_cpus": others,
            "redis_cpus": others,
            "bench_cpus": others,
            "note": f"ceiling loop and gateway `intake mail` on cpu {self.measured_cpu}; "
            f"Dovecot, redis-server and the bench's polling on cpu {others}",
        }


def choose_layout(measured_cpu: int, pin: bool) -> Layout:
    usable = os.sched_getaffinity(0)
    if not pin:
        return Layout(None, None, "--no-pin")
    if shutil.which("taskset") is None:
        return Layout(None, None, "taskset (util-linux) is missing")
    if len(usable) < 2:
        return Layout(None, None, f"only {len(usable)} usable cpu")
    if measured_cpu not in usable:
        raise BenchError(f"--cpu {measured_cpu} is not one of the usable cpus {sorted(usable)}")
    return Layout(measured_cpu, frozenset(usable - {measured_cpu}))


@contextmanager
def on_cpus(cpus: set[int] | frozenset[int] | None) -> Iterator[None]:
    """Run this process (and whatever it starts meanwhile) on these cpus, then go back."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def proc_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime of the whole process


def group_ticks(pgrp: int) -> int:
    """utime + stime of every live process of a process group (Dovecot's master and its imap children)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgrp:
                total += int(fields[11]) + int(fields[12])
    return total


def core_ticks(steal: bool = False) -> dict[int, int]:
    """cpu -> busy ticks (everything but idle and iowait), or with `steal` the hypervisor's share alone."""
    cores: dict[int, int] = {}
    with suppress(OSError), open("/proc/stat") as f:
        for line in f:
            name, *values = line.split()
            if name.startswith("cpu") and name != "cpu":
                t = [int(v) for v in values[:8]]
                cores[int(name[3:])] = t[7] if steal else t[0] + t[1] + t[2] + t[5] + t[6] + t[7]
    return cores


@dataclass
class CpuWatch:
    """CPU seconds per wall-clock second of named processes and process groups, and of each core."""

    procs: dict[str, int]
    groups: dict[str, int]
    started: float = 0.0
    before: dict[str, int] = field(default_factory=dict)
    cores_before: dict[int, int] = field(default_factory=dict)
    steal_before: dict[int, int] = field(default_factory=dict)

    def _sample(self) -> dict[str, int]:
        out = {name: t for name, pid in self.procs.items() if (t := proc_ticks(pid)) is not None}
        out.update({name: group_ticks(g) for name, g in self.groups.items()})
        return out

    def start(self) -> None:
        self.before, self.cores_before, self.steal_before = self._sample(), core_ticks(), core_ticks(steal=True)
        self.started = time.monotonic()

    def stop(self, layout: Layout) -> dict[str, float]:
        after, cores, steal = self._sample(), core_ticks(), core_ticks(steal=True)
        seconds = time.monotonic() - self.started

        def per_s(ticks: int) -> float:
            return round(ticks / CLK_TCK / seconds, 3) if seconds > 0 else 0.0

        out = {f"{k}_cpu": per_s(after[k] - self.before[k]) for k in after if k in self.before}
        if layout.measured_cpu is not None:
            core = layout.measured_cpu
            busy = per_s(cores.get(core, 0) - self.cores_before.get(core, 0))
            out["measured_core_busy"] = busy
            # What else ran there: the kernel's share of loopback, another job, the hypervisor's steal.
            out["measured_core_other"] = round(max(0.0, busy - out.get("gateway_cpu", out.get("bench_cpu", 0.0))), 3)
            out["measured_core_steal"] = per_s(steal.get(core, 0) - self.steal_before.get(core, 0))
        return out


# --------------------------------------------------------------------------------------------------
# The ceiling: fetch and parse, nothing else.
# --------------------------------------------------------------------------------------------------


def _ok(resp: Any, what: str) -> Any:
    if resp.result != "OK":
        raise BenchError(f"ceiling: {what} refused: {resp.result} {resp.lines[-1:]!r}")
    return resp


@dataclass(frozen=True, slots=True)
class CeilingRun:
    messages: int
    bytes: int
    elapsed_s: float  # SELECT to the last parse: the ceiling
    imap_s: float  # of which SELECT, SEARCH and the FETCHes (aioimaplib reading the literals)
    parse_s: float  # of which email.message_from_bytes(raw, policy=email.policy.default)
    compat32_parse_s: float  # the same bytes parsed with policy=compat32 (what normalizers/email.py uses), untimed
    cpu_s: float
    core_other: float | None  # share of the measured cpu used by anything but this process

    @property
    def per_s(self) -> float:
        return self.messages / self.elapsed_s


async def ceiling_pass(host: str, port: int, user: str, password: str, batch: int) -> CeilingRun:
    """Logged in first (the gateway is connected too when its clock starts); timed from SELECT to the last parse."""
    client = aioimaplib.IMAP4(host, port, timeout=60)
    await client.wait_hello_from_server()
    _ok(await client.login(user, password), "LOGIN")
    parse, policy, clock = email.message_from_bytes, email.policy.default, time.perf_counter
    raws: list[bytes] = []
    parse_s = 0.0
    cpu0, t0 = time.process_time(), clock()
    _ok(await client.select("INBOX"), "SELECT")
    search = _ok(await client.uid_search("UID", "1:*", charset=None), "UID SEARCH")
    uids = sorted({int(tok) for line in search.lines[:-1] for tok in bytes(line).split() if tok.isdigit()})
    for start in range(0, len(uids), batch):
        chunk = ",".join(map(str, uids[start : start + batch]))
        resp = _ok(await client.uid("fetch", chunk, "(UID BODY.PEEK[])"), "UID FETCH")
        lines = resp.lines
        p0 = clock()
        for i, line in enumerate(lines[:-1]):
            if isinstance(line, bytes) and _LITERAL.search(line):
                raw = bytes(lines[i + 1])
                parse(raw, policy=policy)
                raws.append(raw)
        parse_s += clock() - p0
    elapsed, cpu = clock() - t0, time.process_time() - cpu0
    with suppress(Exception):
        await asyncio.wait_for(client.logout(), 5)
    p0 = clock()
    for raw in raws:
        parse(raw, policy=email.policy.compat32)
    compat32_s = clock() - p0
    return CeilingRun(len(raws), sum(map(len, raws)), elapsed, elapsed - parse_s, parse_s, compat32_s, cpu, None)


def run_ceiling(dovecot: Dovecot, batch: int, rounds: int, expect: int, layout: Layout) -> list[CeilingRun]:
    runs: list[CeilingRun] = []
    core = layout.measured_cpu
    with on_cpus({core} if core is not None else None):
        for _ in range(rounds):
            before, own, t0 = core_ticks(), time.process_time(), time.monotonic()
            run = asyncio.run(ceiling_pass(dovecot.host, dovecot.port, CEILING_USER, CEILING_PASSWORD, batch))
            if core is not None:
                busy = (core_ticks().get(core, 0) - before.get(core, 0)) / CLK_TCK
                other = max(0.0, busy - (time.process_time() - own)) / (time.monotonic() - t0)
                run = replace(run, core_other=round(other, 3))
            if run.messages != expect:
                raise BenchError(f"ceiling: fetched {run.messages} messages, expected {expect}")
            say(f"ceiling: {run.per_s:,.0f} messages/s ({run.elapsed_s:.3f} s: imap {run.imap_s:.3f} s, "
                f"parse {run.parse_s:.3f} s; compat32 would parse in {run.compat32_parse_s:.3f} s)")  # fmt: skip
            runs.append(run)
    return runs


# --------------------------------------------------------------------------------------------------
# The gateway: `intake mail`, its redis-server, the clock.
# --------------------------------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_ENV)}


@contextmanager
def running(cmd: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=out, cwd=REPO, env=child_env(), start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    return cmd if cpu is None else ["taskset", "-c", str(cpu), *cmd]


def folder_count(client: imaplib.IMAP4, folder: str) -> int:
    """MESSAGES of a folder; 0 for one the gateway has not created yet."""
    typ, data = client.status(folder, "(MESSAGES)")
    if typ == "NO" and data and isinstance(data[0], bytes) and b"doesn't exist" in data[0]:
        return 0
    if typ != "OK" or not data or not isinstance(data[0], bytes):
        raise BenchError(f"STATUS {folder}: {typ} {data!r}")
    m = re.search(rb"MESSAGES (\d+)", data[0])
    if m is None:
        raise BenchError(f"STATUS {folder}: {data!r}")
    return int(m.group(1))


def wait_until(what: str, ready: Callable[[], bool], timeout: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise BenchError(f"the gateway exited with {proc.returncode} while waiting for {what}:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not after {timeout:g} s. Gateway log:\n{tail(log)}")
        time.sleep(0.02)


@contextmanager
def profiling(plan: Plan, pid: int) -> Iterator[None]:
    """py-spy on the other cpus for the measured window, stopped with SIGINT (it writes its file then)."""
    path = plan.profile
    if path is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy")
    fmt = "speedscope" if path.suffix == ".json" else ("raw" if path.suffix == ".txt" else "flamegraph")
    flags = ["--nonblocking", *(["--gil"] if plan.profile_gil else []), *(["--idle"] if plan.profile_idle else [])]
    cmd = [spy, "record", "--pid", str(pid), "--rate", str(plan.profile_rate), "--format", fmt,
           "--output", str(path), *flags]  # fmt: skip
    with on_cpus(plan.layout.other_cpus), (plan.work / "py-spy.log").open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=log)
    time.sleep(0.5)  # py-spy attaches
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        say(f"profile written to {path}")


@dataclass(frozen=True, slots=True)
class GatewayRun:
    elapsed_s: float
    copy_s: float
    committed: int
    processed: int
    quarantined: int
    inbox_left: int
    dedupe_keys: int
    cpu: dict[str, float]
    finished: bool
    log_lines: list[str]  # what the gateway logged (at --log-level or above) while the clock ran
    started_at: str

    @property
    def moved(self) -> int:
        return self.processed + self.quarantined

    @property
    def reconnects(self) -> int:
        return sum("reconnecting" in line for line in self.log_lines)


@dataclass(frozen=True, slots=True)
class Plan:
    messages: int
    warmup: int
    batch: int
    layout: Layout
    work: Path
    log_level: str
    timeout_s: float
    profile: Path | None
    profile_rate: int
    profile_gil: bool
    profile_idle: bool


def gateway_config(plan: Plan, dovecot: Dovecot, redis_url: str) -> Path:
    """As the email tests write it (tests/support/gateway.write_config, tests/channels/email_support.mailbox_conf),
    with the shipped Redis socket timeout instead of the tests' 0.5 s, and quieter logging.

    The poll interval stays the shipped 60 s (the tests' 0.5 s is for stepping through passes): the poller IDLEs
    after its warm-up pass and the COPY wakes it. An IDLE that ends without news is treated as a broken
    connection by the poller (a reconnect, with a backoff that doubles each time), which must not happen
    inside the measured window: see `reconnects` in the JSON."""
    shipped = yaml.safe_load((REPO / "config" / "gateway.yaml").read_text())
    conf = {"mailboxes": {MAILBOX: mailbox_conf(dovecot, None)}, "border_host": BORDER, "fetch_batch": plan.batch}
    return write_config(plan.work, redis_url, channels={"email": conf}, logging={"level": plan.log_level},
                        redis={"socket_timeout_s": shipped["redis"]["socket_timeout_s"]})  # fmt: skip


@dataclass
class Counts:
    """What Redis and Dovecot hold, read by this script (on the other cpus) while the gateway works."""

    redis: redis.Redis
    imap: imaplib.IMAP4

    def queued(self) -> int:
        return int(self.redis.llen(DELIVER_QUEUE))

    def folder(self, name: str) -> int:
        return folder_count(self.imap, name)

    def moved(self) -> int:
        return self.folder("Processed") + self.folder("Quarantine")


def logged_between(log: Path, start: float, end: float) -> list[str]:
    """The gateway's JSON log lines stamped within [start, end] (epoch seconds); unstamped lines count too."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            stamp = datetime.fromisoformat(json.loads(line)["ts"]).timestamp()
        except (ValueError, KeyError, TypeError):
            out.append(line)
            continue
        if start - 0.01 <= stamp <= end + 0.01:
            out.append(line)
    return out


def run_gateway(plan: Plan, dovecot: Dovecot, redis_srv: RedisServer) -> GatewayRun:
    config = gateway_config(plan, dovecot, redis_srv.url)
    log = plan.work / "gateway.log"
    cmd = pinned([sys.executable, "-m", "gateway.cli", "--config", str(config), "mail"], plan.layout.measured_cpu)
    counts = Counts(redis_srv.client(), dovecot.client(IMAP_USER, IMAP_PASSWORD))
    try:
        say(f"gateway `intake mail` (logging {plan.log_level}); warming up on {plan.warmup} messages")
        with running(cmd, log) as proc:
            # Warm: connected, the language models loaded, every code path run once, and then idle (IDLE).
            warm = plan.warmup
            wait_until(
                "the warm-up messages", lambda: counts.queued() >= warm and counts.moved() >= warm, 90, proc, log
            )
            health = health_key(MAILBOX)
            wait_until("a finished pass", lambda: bool(counts.redis.hget(health, "checked_at")), 30, proc, log)
            time.sleep(1.0)
            return measure(plan, counts, proc, log, redis_srv, dovecot)
    finally:
        with suppress(Exception):
            counts.imap.logout()
        counts.redis.close()


def measure(
    plan: Plan, counts: Counts, proc: subprocess.Popen[bytes], log: Path, redis_srv: RedisServer, dovecot: Dovecot
) -> GatewayRun:
    """COPY the staged messages into the INBOX (one command, one EXISTS for the IDLEing poller) and time until
    every one is committed in Redis and moved out of the INBOX."""
    base_len, base_processed, base_quarantined = (
        counts.queued(),
        counts.folder("Processed"),
        counts.folder("Quarantine"),
    )
    target_len, target_moved = base_len + plan.messages, base_processed + base_quarantined + plan.messages
    watch = CpuWatch({"gateway": proc.pid, "redis": redis_srv.proc.pid if redis_srv.proc else -1},
                     {"dovecot": dovecot.proc.pid if dovecot.proc else -1})  # fmt: skip
    counts.imap.select(STAGING)
    finished = False
    with profiling(plan, proc.pid):
        say(f"copying {plan.messages:,} messages into the gateway's INBOX; the clock runs")
        watch.start()
        t0, wall0 = time.perf_counter(), time.time()
        typ, data = counts.imap.uid("COPY", "1:*", "INBOX")
        copy_s = time.perf_counter() - t0
        if typ != "OK":
            raise BenchError(f"UID COPY into INBOX: {typ} {data!r}")
        last_moved_check = 0.0
        while (now := time.perf_counter()) < t0 + plan.timeout_s:
            if proc.poll() is not None:
                raise BenchError(f"the gateway exited with {proc.returncode} during the run:\n{tail(log)}")
            # The folders are asked often only once everything is committed (each batch is moved after its
            # commits), and otherwise every 250 ms, so that mail moved without a commit cannot stall this loop.
            if counts.queued() >= target_len or now - last_moved_check > 0.25:
                last_moved_check = now
                if counts.moved() >= target_moved:
                    finished = True
                    break
            time.sleep(0.005)
        elapsed, wall1 = time.perf_counter() - t0, time.time()
        cpu = watch.stop(plan.layout)
    time.sleep(0.3)  # late commits, if any, show up in the counts
    run = GatewayRun(
        elapsed_s=elapsed,
        copy_s=copy_s,
        committed=counts.queued() - base_len,
        processed=counts.folder("Processed") - base_processed,
        quarantined=counts.folder("Quarantine") - base_quarantined,
        inbox_left=counts.folder("INBOX"),
        dedupe_keys=sum(1 for _ in counts.redis.scan_iter(match=DEDUPE_PATTERN, count=10_000)) - plan.warmup,
        cpu=cpu,
        finished=finished,
        log_lines=logged_between(log, wall0, wall1),
        started_at=datetime.fromtimestamp(wall0, UTC).isoformat(timespec="milliseconds"),
    )
    if run.log_lines:
        say(f"the gateway logged {len(run.log_lines)} line(s) during the run; the last:\n  {run.log_lines[-1][:400]}")
    if run.reconnects:
        say(f"warning: the poller reconnected {run.reconnects} time(s) during the run (its backoff is in elapsed_s)")
    if not finished:
        say(f"warning: not done after {plan.timeout_s:g} s: {run.committed} committed, {run.moved} moved")
    return run


# --------------------------------------------------------------------------------------------------
# Setup, the JSON line, the command line.
# --------------------------------------------------------------------------------------------------


def filesystem_of(path: Path) -> str:
    best, fstype = "", "?"
    with suppress(OSError), open("/proc/mounts") as mounts:
        for line in mounts:
            parts = line.split()
            if len(parts) >= 3:
                mount, inside = parts[1], str(path.resolve())
                if (inside == mount or inside.startswith(mount.rstrip("/") + "/")) and len(mount) > len(best):
                    best, fstype = mount, parts[2]
    return fstype


def git_head() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO, check=True).stdout.strip()

    try:
        return git("rev-parse", "--short", "HEAD") + ("+dirty" if git("status", "--porcelain", "-uno") else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


def tool_version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.split()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


@contextmanager
def workdir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="intake-mail-bench-") as tmp:
        yield Path(tmp)


def bench(args: argparse.Namespace, layout: Layout, work: Path, git: str) -> dict[str, Any]:
    t_start = time.perf_counter()
    corpus = build_corpus(args.messages, args.seed, f"bench{args.seed}")
    warm = build_corpus(args.warmup, args.seed + 1, f"warm{args.seed}")
    mean = corpus.total_bytes / len(corpus.messages)
    say(f"{len(corpus.messages):,} messages ({corpus.total_bytes / 1e6:.1f} MB, mean {mean:,.0f} bytes) "
        f"in {corpus.generate_s:.2f} s: {corpus.mix}")  # fmt: skip
    plan = Plan(args.messages, args.warmup, args.fetch_batch, layout, work, args.log_level, args.timeout,
                args.profile.resolve() if args.profile else None, args.profile_rate, args.profile_gil,
                args.profile_idle)  # fmt: skip
    with ExitStack() as stack, on_cpus(layout.other_cpus):
        redis_srv = RedisServer(work / "redis")
        redis_srv.start()
        stack.callback(redis_srv.stop)
        rinfo = redis_srv.client()
        redis_version = str(rinfo.info("server").get("redis_version", "?"))
        appendfsync = str(rinfo.config_get("appendfsync").get("appendfsync", "?"))
        rinfo.close()
        dovecot = Dovecot(rawlog=False)
        stack.callback(dovecot.close)
        dovecot.add_user(IMAP_USER, IMAP_PASSWORD)
        dovecot.add_user(CEILING_USER, CEILING_PASSWORD)
        dovecot.start()
        t0 = time.perf_counter()
        dovecot.deliver_many(CEILING_USER, corpus.messages)
        dovecot.create_folder(IMAP_USER, STAGING)
        dovecot.deliver_many(IMAP_USER, corpus.messages, folder=STAGING)
        dovecot.deliver_many(IMAP_USER, warm.messages)
        say(f"Dovecot {dovecot.port}: delivered {2 * args.messages + args.warmup:,} messages in "
            f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
        # The ceiling before and after the gateway: a VM's speed drifts, and the median straddles the gateway run.
        before = (args.ceiling_rounds + 1) // 2
        ceiling = run_ceiling(dovecot, args.fetch_batch, before, args.messages, layout)
        gw = run_gateway(plan, dovecot, redis_srv)
        ceiling += run_ceiling(dovecot, args.fetch_batch, args.ceiling_rounds - before, args.messages, layout)
    ceiling_s = statistics.median(r.elapsed_s for r in ceiling)
    ceiling_per_s = args.messages / ceiling_s
    per_s = args.messages / gw.elapsed_s if gw.finished else 0.0
    ratio = per_s / ceiling_per_s if ceiling_per_s else 0.0
    say(f"gateway: {per_s:,.0f} messages/s ({gw.elapsed_s:.2f} s), ceiling {ceiling_per_s:,.0f}/s, ratio {ratio:.3f}")
    gateway_cpu = gw.cpu.get("gateway_cpu")
    ceiling_cpu_s = statistics.median(r.cpu_s for r in ceiling)
    ceiling_other = max((r.core_other or 0.0) for r in ceiling)
    contended = max(gw.cpu.get("measured_core_other", 0.0), ceiling_other) > CONTENDED_SHARE

    def ceiling_median(value: Callable[[CeilingRun], float]) -> float:
        return round(statistics.median(value(r) for r in ceiling), 3)

    return {
        "bench": "email_ingest",
        "messages_per_s": round(per_s, 1),
        "ceiling_messages_per_s": round(ceiling_per_s, 1),
        "ratio": round(ratio, 4),
        "messages": args.messages,
        "committed": gw.committed,
        "moved": gw.moved,
        "processed": gw.processed,
        "quarantined": gw.quarantined,
        "inbox_left": gw.inbox_left,
        "not_committed": args.messages - gw.committed,
        "duplicates": max(0, gw.committed - gw.dedupe_keys),
        "moved_not_committed": max(0, gw.moved - gw.committed),
        "dedupe_keys": gw.dedupe_keys,
        "finished": gw.finished,
        "gateway_log_lines": len(gw.log_lines),
        "reconnects": gw.reconnects,
        "started_at": gw.started_at,
        "fetch_batch": args.fetch_batch,
        "elapsed_s": round(gw.elapsed_s, 3),
        "copy_into_inbox_s": round(gw.copy_s, 3),
        "ceiling_elapsed_s": round(ceiling_s, 3),
        "ceiling_rounds": [round(args.messages / r.elapsed_s, 1) for r in ceiling],
        "ceiling_parse": "email.message_from_bytes(raw, policy=email.policy.default)",
        "ceiling_imap_s": ceiling_median(lambda r: r.imap_s),
        "ceiling_parse_s": ceiling_median(lambda r: r.parse_s),
        # Context, not the target: the bare loop without any parse, and with the parser the gateway uses.
        "fetch_only_messages_per_s": round(args.messages / ceiling_median(lambda r: r.imap_s), 1),
        "ceiling_compat32_messages_per_s": round(
            args.messages / ceiling_median(lambda r: r.imap_s + r.compat32_parse_s), 1
        ),
        "gateway_cpu_us_per_msg": round(gateway_cpu * gw.elapsed_s / args.messages * 1e6, 1) if gateway_cpu else None,
        "ceiling_cpu_us_per_msg": round(ceiling_cpu_s / args.messages * 1e6, 1),
        # CPU per message is steadier than rates on a VM whose speed drifts: compare these across changes.
        "cpu_ratio": round(ceiling_cpu_s / args.messages * 1e6 / (gateway_cpu * gw.elapsed_s / args.messages * 1e6), 4)
        if gateway_cpu
        else None,
        "cpu": gw.cpu,
        "ceiling_cpu": round(ceiling_cpu_s / ceiling_s, 3),
        "ceiling_core_other": ceiling_other,
        "contended": contended,
        "warmup_messages": args.warmup,
        "mix": corpus.mix,
        "mean_message_bytes": round(corpus.total_bytes / len(corpus.messages)),
        "corpus_mb": round(corpus.total_bytes / 1e6, 2),
        "corpus_sha": corpus.digest(),
        "seed": args.seed,
        "layout": layout.describe(),
        "log_level": args.log_level,
        "redis_version": redis_version,
        "appendfsync": appendfsync,
        "data_dir_fs": filesystem_of(work),
        "dovecot_version": tool_version(["/usr/sbin/dovecot", "--version"]),
        "aioimaplib": package_version("aioimaplib"),
        "profiled": args.profile is not None,
        "targets": {"ratio_min": TARGET_RATIO, "messages_per_s_min": TARGET_PER_S},
        "meets_targets": gw.finished
        and ratio >= TARGET_RATIO
        and per_s >= TARGET_PER_S
        and gw.committed == args.messages,
        "git": git,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "total_s": round(time.perf_counter() - t_start, 1),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=2000, help="measured messages (default 2000)")
    p.add_argument("--warmup", type=int, default=60, help="messages the gateway handles before the clock (default 60)")
    p.add_argument("--fetch-batch", type=int, default=100, help="channels.email.fetch_batch, both sides (default 100)")
    p.add_argument(
        "--ceiling-rounds",
        type=int,
        default=4,
        help="bare loop runs, half before and half after the gateway's; the JSON has the median (default 4)",
    )
    p.add_argument("--seed", type=int, default=2026, help="the corpus's seed (default 2026)")
    p.add_argument("--cpu", type=int, default=0, help="cpu for the measured code (default 0); the rest elsewhere")
    p.add_argument("--no-pin", action="store_true", help="do not pin anything to a cpu")
    p.add_argument("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    p.add_argument("--timeout", type=float, default=90.0, help="give up on the gateway after this many s (default 90)")
    p.add_argument("--workdir", type=Path, default=None, help="keep the config, logs and Redis files here")
    p.add_argument("--profile", type=Path, default=None, help="py-spy the gateway: .svg flamegraph, .json, .txt raw")
    p.add_argument("--profile-rate", type=int, default=250, help="py-spy samples per second (default 250)")
    p.add_argument("--profile-gil", action="store_true", help="py-spy --gil: only samples holding the GIL")
    p.add_argument("--profile-idle", action="store_true", help="py-spy --idle: waits too (epoll, fsync)")
    p.add_argument("--check", action="store_true", help="exit 1 when the targets are not met")
    args = p.parse_args(argv)
    if args.messages < 1 or args.warmup < 1 or args.ceiling_rounds < 1 or not 1 <= args.fetch_batch <= 1000:
        p.error("--messages, --warmup and --ceiling-rounds >= 1; 1 <= --fetch-batch <= 1000")
    return args


def main(argv: list[str] | None = None, stdout: TextIO = sys.stdout) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        say("error: Dovecot runs mailboxes as `nobody` and logins as `dovenull`: run this as root")
        return 2
    try:
        layout = choose_layout(args.cpu, pin=not args.no_pin)
        git = git_head()
        with workdir(args.workdir) as work:
            say(f"working in {work}")
            out = bench(args, layout, work, git)
    except BenchError as exc:
        say(f"error: {exc}")
        return 2
    if out["contended"]:
        say("warning: something else took a large share of the measured cpu (cpu.measured_core_other): rerun")
    print(json.dumps(out, ensure_ascii=False, separators=(", ", ": ")), file=stdout, flush=True)
    return 1 if args.check and not out["meets_targets"] else 0


if __name__ == "__main__":
    sys.exit(main())
