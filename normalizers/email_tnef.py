"""winmail.dat (TNEF) -> its files and body, through a typed wrapper around tnefparse. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from tnefparse import TNEF  # type: ignore[import-untyped]


@dataclass(frozen=True)
class TnefContent:
    files: tuple[tuple[str, bytes], ...]  # (filename, data)
    body: str | None
    html: str | None


def _text(value: object, codepage: str | None) -> str | None:
    if isinstance(value, str):
        return value.strip("\x00") or None
    if isinstance(value, bytes):
        for codec in (codepage, "utf-8", "cp1252"):
            if not codec:
                continue
            try:
                return value.decode(codec).strip("\x00") or None
            except (UnicodeDecodeError, LookupError):
                continue
        return value.decode("latin-1").strip("\x00") or None
    return None


def read_tnef(data: bytes) -> TnefContent | None:
    """The attachments and body inside a TNEF stream; None when it is not TNEF or cannot be read."""
    try:
        tnef = TNEF(data, do_checksum=False)
        codepage = tnef.codepage if isinstance(tnef.codepage, str) else None
        files: list[tuple[str, bytes]] = []
        for index, attachment in enumerate(tnef.attachments, 1):
            payload = attachment.data
            if not isinstance(payload, bytes):
                continue
            name = _text(attachment.long_filename(), codepage) or _text(attachment.name, codepage)
            files.append((name or f"attachment-{index}", payload))
        body = _text(tnef.body, codepage)
        html = _text(tnef.htmlbody, codepage)
    # A third-party decoder of hostile bytes fails in many ways (struct, index, assertion, unicode errors):
    # every failure means the same thing here, and the caller keeps winmail.dat as it came.
    except Exception:
        return None
    return TnefContent(tuple(files), body, html)
