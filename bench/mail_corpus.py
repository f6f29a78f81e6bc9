"""The mail for bench/email_ingest.py: deterministic (seeded, so every run sees the same bytes) and mixed like a
district help desk's inbox: plain text, Outlook HTML, multipart/alternative, attachments, replies with quoted
history, follow-ups, Spanish and Vietnamese, and legacy charsets.
"""

from __future__ import annotations

import base64
import hashlib
import quopri
import random
import struct
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
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

from tests.channels.email_support import BORDER, HELP

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
