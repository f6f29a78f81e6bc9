"""The new content of a reply: quoted history, forwarded content and signatures removed. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from normalizers.text import clean_text

_QUOTED = re.compile(r"^\s*>")
# Reply attributions whose first word is fixed: Gmail, Apple Mail/iOS, Thunderbird, in the families' languages.
# Gmail wraps long ones over two or three lines, so they are matched on joined lines.
_ATTRIBUTION_START = re.compile(r"^(On|El|Le|Am|Em|Il|Op|Vào|在|في)\s", re.IGNORECASE)
_ATTRIBUTION = re.compile(
    r"^(?:On\s.{1,250}\swrote"
    r"|El\s.{1,250}\sescribió"
    r"|Le\s.{1,250}\sa\s+écrit"
    r"|Am\s.{1,250}\sschrieb.{0,120}"
    r"|Em\s.{1,250}\sescreveu"
    r"|Il\s.{1,250}\sha\s+scritto"
    r"|Op\s.{1,250}\s(?:schreef|geschreven).{0,120}"
    r"|Vào\s.{1,250}\sđã\s+viết"
    r"|在.{1,250}写道"
    r"|في\s.{1,250}كتب.{0,120}"
    r")\s*[:\uff1a]\s*$",
    re.IGNORECASE,
)
# Attributions that only end in a fixed word: "Ana <a@b> wrote:", Gmail in Chinese "Ana <a@b> 于2024年1月2日 写道:".
_ATTRIBUTION_END = re.compile(  # [^@] and [^于], not ".": one way to match, so long lines cannot backtrack for ages
    r"^(?:[^@]{0,250}@.{0,120}\swrote|[^于]{0,250}于.{1,120}写道)\s*[:\uff1a]\s*$", re.IGNORECASE
)

_ORIGINAL = re.compile(
    r"^\s*-{2,}\s*(?:original message|mensaje original|message d'origine|ursprüngliche nachricht"
    r"|messaggio originale|mensagem original|oorspronkelijk bericht|原始邮件|原始郵件|tin nhắn gốc)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_FORWARD = re.compile(
    r"^\s*(?:-{2,}\s*(?:forwarded message|mensaje reenviado|message transféré|weitergeleitete nachricht"
    r"|messaggio inoltrato|mensagem encaminhada|doorgestuurd bericht|tin nhắn đã chuyển tiếp|转发的邮件|轉寄的郵件)"
    r"\s*-{2,}"
    r"|(?:begin forwarded message|inicio del mensaje reenviado|début du message réexpédié)\s*:)\s*$",
    re.IGNORECASE,
)
# Outlook's quoted header block ("From: / Sent: / To: / Subject:"), localized; Gmail shows it with *bold* stars.
_HEADER_FROM = re.compile(
    r"^(?:From|De|Von|Van|Da|Från|Fra|Od|Từ|发件人|寄件者|寄件人|差出人|보낸 사람)\s*[:\uff1a]\s*\S", re.IGNORECASE
)
_HEADER_DATE = re.compile(
    r"^(?:Sent|Date|Enviado|Fecha|Gesendet|Datum|Envoyé|Data|Inviato|Verzonden|Skickat|Sendt|Đã gửi|Ngày"
    r"|发送时间|發送時間|日期|送信日時|보낸 날짜)\s*[:\uff1a]",
    re.IGNORECASE,
)
_HEADER_OTHER = re.compile(
    r"^(?:To|Para|An|À|A|Aan|Till|Til|Đến|收件人|收件者|宛先|받는 사람"
    r"|Subject|Asunto|Betreff|Objet|Oggetto|Assunto|Onderwerp|Ämne|Emne|Chủ đề|主题|主旨|件名|제목)\s*[:\uff1a]",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"^\s*(?:_{5,}|-{5,})\s*$")
_SIGNATURE = re.compile(r"^--\s*$")  # RFC 3676 says "-- "; many clients trim the trailing space
_MOBILE = re.compile(
    r"^\s*(?:"
    r"sent from my \w+.{0,40}"
    r"|sent from (?:outlook|yahoo mail|mail|gmail|samsung|my mobile).{0,60}"
    r"|get outlook for (?:ios|android).{0,60}"
    r"|sent (?:via|with) .{1,60}"
    r"|enviado desde mi \w+.{0,40}"
    r"|enviado desde (?:outlook|yahoo mail|correo|gmail).{0,60}"
    r"|obtener outlook para (?:ios|android).{0,60}"
    r"|envoyé de mon \w+.{0,40}"
    r"|von meinem \w+.{0,30} gesendet"
    r"|gửi từ \w+.{0,40}"
    r"|发自我的\w+.{0,20}"
    r"|從我的 ?\w+.{0,20}傳送"
    r")\s*$",
    re.IGNORECASE,
)

CutKind = Literal["none", "reply", "original", "forward", "header"]


@dataclass(frozen=True)
class Cut:
    line: int  # first line of quoted history or forwarded content
    end: int  # first line after the attribution or marker itself
    kind: CutKind


def _unbold(line: str) -> str:
    return line.replace("*", "").strip()


def _ends_attribution(line: str) -> bool:
    # A cheap test first: the full pattern is slow on the long, address-heavy lines of some bodies.
    return line.endswith((":", "\uff1a")) and ("wrote" in line.lower() or "写道" in line)


def _header_block(lines: list[str], i: int) -> bool:
    window = [_unbold(line) for line in lines[i + 1 : i + 9] if line.strip()]
    return any(_HEADER_DATE.match(w) for w in window[:4]) and any(_HEADER_OTHER.match(w) for w in window[:6])


def find_cut(lines: list[str]) -> Cut:
    """Where the quoted history, the original message or the forwarded content begins."""
    for i, line in enumerate(lines):
        text = _unbold(line)
        if not text or _QUOTED.match(line):
            continue
        if _ORIGINAL.match(text):
            return Cut(i, i + 1, "original")
        if _FORWARD.match(text):
            return Cut(i, i + 1, "forward")
        if _ATTRIBUTION_START.match(text):
            for size in (1, 2, 3):
                joined = " ".join(part.strip() for part in lines[i : i + size])
                if _ATTRIBUTION.match(joined):
                    return Cut(i, i + size, "reply")
        if _ends_attribution(text) and _ATTRIBUTION_END.match(text):
            return Cut(i, i + 1, "reply")
        following = lines[i + 1].strip() if i + 1 < len(lines) else ""
        wrapped = ("@" in text or text.endswith("<")) and _ends_attribution(following)
        if wrapped and _ATTRIBUTION_END.match(f"{text} {following}"):
            return Cut(i, i + 2, "reply")
        if _HEADER_FROM.match(text) and _header_block(lines, i):
            start = above = i
            # Outlook on the web and mobile draw a rule of underscores above the header block.
            while above > 0 and not lines[above - 1].strip():
                above -= 1
            if above > 0 and _SEPARATOR.match(lines[above - 1]):
                start = above - 1
            return Cut(start, i + 1, "header")
    return Cut(len(lines), len(lines), "none")


def _without_signature(lines: list[str]) -> list[str]:
    for i, line in enumerate(lines):
        if _SIGNATURE.match(line):
            lines = lines[:i]
            break
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    if lines and _MOBILE.match(lines[-1]):
        lines = lines[:-1]
    return lines


def new_content(text: str) -> str:
    """What the sender wrote in this message; '' when nothing is left (the caller then keeps the whole text)."""
    lines = text.replace("\r\n", "\n").split("\n")
    cut = find_cut(lines)
    kept = [line for line in lines[: cut.line] if not _QUOTED.match(line)]
    result = clean_text("\n".join(_without_signature(kept)))
    if not result and cut.kind == "reply":
        # Bottom-posted or interleaved answers sit below the attribution, between quoted blocks.
        below = [line for line in lines[cut.end :] if not _QUOTED.match(line)]
        result = clean_text("\n".join(_without_signature(below)))
    return result


def unflow(text: str, delsp: bool = False) -> str:
    """RFC 3676 format=flowed -> paragraphs: a line ending in a space continues on the next line."""
    out: list[str] = []
    pending: str | None = None
    pending_depth = 0

    def emit(content: str, depth: int) -> None:
        out.append(f"{'>' * depth} {content}" if depth else content)

    for line in text.split("\n"):
        stripped = line.lstrip(">")
        depth = len(line) - len(stripped)
        stripped = stripped.removeprefix(" ")  # space-stuffing
        if pending is not None and depth != pending_depth:  # a change of quote depth ends the paragraph
            emit(pending, pending_depth)
            pending = None
        if stripped.endswith(" ") and stripped != "-- ":
            pending = (pending or "") + (stripped[:-1] if delsp else stripped)
            pending_depth = depth
            continue
        emit((pending or "") + stripped, depth)
        pending = None
    if pending is not None:
        emit(pending, pending_depth)
    return "\n".join(out)
