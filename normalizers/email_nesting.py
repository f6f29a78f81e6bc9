"""How deep a raw message's multipart structure goes, read from its bytes before any parsing. Pure.

Python's email parser checks every line of a message against the boundary of every multipart it is inside: a
message nested 450 levels deep cost 9 s of CPU per megabyte, and a 25 MB one would hold the worker for minutes.
Nothing deeper than normalizers.email_mime.MAX_DEPTH is read anyway, so a message nested far deeper than any
mail client nests is refused before the parser sees it (the channel quarantines it).
"""

from __future__ import annotations

import re

MAX_MULTIPART_NESTING = 40  # a forward of a forward ... ten deep is about 20 levels
# A boundary declared in a Content-Type, or a delimiter line (`--b`, or `--b--` closing its multipart).
_MARK = re.compile(
    rb'boundary\s*=\s*(?:"(?P<quoted>[^"\r\n]*)"|(?P<bare>[^\s;"]+))|^--(?P<delim>[^\r\n]*?)(?P<close>--)?[ \t]*\r?$',
    re.IGNORECASE | re.MULTILINE,
)


def too_deep(raw: bytes, limit: int = MAX_MULTIPART_NESTING) -> bool:
    """More multiparts open at once than `limit`, counted as the parser opens and closes them."""
    # Each multipart open at once declared its boundary: without more declarations than `limit` (counted in every
    # case, as _MARK's IGNORECASE does on bytes), none of them can be. Most mail has one or two, and this count
    # costs a twentieth of the scan below.
    if raw.lower().count(b"boundary") <= limit:
        return False
    open_: list[bytes] = []
    for m in _MARK.finditer(raw):
        delim = m.group("delim")
        if delim is None:
            open_.append(m.group("quoted") if m.group("quoted") is not None else m.group("bare"))
            if len(open_) > limit:
                return True
            continue
        # A delimiter of an outer multipart ends every part inside it; its closing one ends the multipart too.
        for i in range(len(open_) - 1, -1, -1):
            if open_[i] == delim:
                del open_[i + (0 if m.group("close") else 1) :]
                break
    return False
