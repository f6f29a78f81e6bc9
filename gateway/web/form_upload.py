"""Reading the family form's body as it arrives: the token first, then the answers, the file into the blob store.

The page puts its CSRF token in the first field, and browsers send fields in the page's order, so the
token is read and checked before anything else: a forged post is refused after a few hundred bytes,
not after ten megabytes. The chosen file goes to the blob store in 64 KiB pieces as it is read (a
temporary file, hashed on the way, made a blob only when the request is committed): no copy of it is
held in memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from gateway.store.blobs import BlobStore, BlobWriter
from gateway.web.form_fields import TEXT_FIELDS
from normalizers.text import clean_text

CSRF_FIELD = "csrf"  # the page's hidden field, first in the form
FILE_FIELD = "attachment"
MAX_PARTS = 32  # the page has ten fields; more is not a browser sending it
MAX_FIELD_BYTES = 128 * 1024  # a text answer: the message is at most 20,000 characters
MAX_TOKEN_BYTES = 256
CHUNK = 64 * 1024

T = TypeVar("T")


class FormProblem(Exception):
    """The body is not what our page sends (`malformed`) or is larger than we take (`too_large`)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class Answers:
    values: dict[str, str] = field(default_factory=lambda: dict.fromkeys(TEXT_FIELDS, ""))
    upload: BlobWriter | None = None  # the chosen file, received whole and within its limit
    file_chosen: bool = False  # a file was chosen (even one refused, or not kept)
    file_too_large: bool = False


class FormReader:
    def __init__(self, request: web.Request, blobs: BlobStore, max_file: int, max_total: int) -> None:
        self.request, self.blobs = request, blobs
        self.max_file, self.max_total = max_file, max_total
        self._reader: MultipartReader | None = None
        self._parts = 0
        self._read = 0

    async def _next(self) -> BodyPartReader | None:
        if self._reader is None:
            if self.request.content_type != "multipart/form-data":
                raise FormProblem("malformed")
            try:
                self._reader = await self.request.multipart()
            except (ValueError, AssertionError, KeyError):
                raise FormProblem("malformed") from None
        try:
            part = await self._reader.next()
        except (ValueError, HttpProcessingError):  # a part's header line aiohttp refuses (a NUL, no colon)
            raise FormProblem("malformed") from None
        if part is None:
            return None
        self._parts += 1
        # A nested multipart, a part without a name, or more parts than the page has: not a browser.
        if not isinstance(part, BodyPartReader) or not part.name or self._parts > MAX_PARTS:
            raise FormProblem("malformed")
        return part

    async def _chunk(self, part: BodyPartReader) -> bytes:
        try:
            chunk = await part.read_chunk(CHUNK)
        except ValueError:
            raise FormProblem("malformed") from None
        self._read += len(chunk)
        if self._read > self.max_total:
            raise FormProblem("too_large")
        return chunk

    async def _text(self, part: BodyPartReader, limit: int) -> str:
        """The field's text, cut at `limit` bytes (the rest is read past: a longer answer is refused as too long
        whatever its end says)."""
        data = bytearray()
        while chunk := await self._chunk(part):
            if len(data) < limit:
                data += chunk[: limit - len(data)]
        return data.decode("utf-8", errors="replace")

    async def token(self) -> str:
        """The first field's value when it is the token; "" otherwise (a forged or foreign post)."""
        part = await self._next()
        if part is None or part.name != CSRF_FIELD:
            return ""
        return await self._text(part, MAX_TOKEN_BYTES)

    async def answers(self, *, keep_file: bool) -> Answers:
        """Every other field. The file is streamed to the blob store when `keep_file`, else read past."""
        out = Answers()
        seen: set[str] = set()
        while (part := await self._next()) is not None:
            name = part.name or ""
            if name == FILE_FIELD and part.filename and FILE_FIELD not in seen:
                out.file_chosen = True
                if keep_file:
                    out.upload = await self._stream(part, out)
                else:
                    await self._skip(part)
            elif name in out.values and name not in seen:
                out.values[name] = await self._text(part, MAX_FIELD_BYTES)
            else:
                await self._skip(part)  # a repeated field keeps its first value, as the page sends one
            seen.add(name)
        return out

    async def _skip(self, part: BodyPartReader) -> None:
        while await self._chunk(part):
            pass

    async def _stream(self, part: BodyPartReader, out: Answers) -> BlobWriter | None:
        filename = clean_text(part.filename or "")[:200] or "file"
        writer = await _off_loop(self.blobs.writer, filename, self.max_file)
        try:
            while chunk := await self._chunk(part):
                if not await _off_loop(writer.write, chunk):
                    out.file_too_large = True
        except BaseException:
            await _off_loop(writer.abort)
            raise
        if out.file_too_large or writer.size == 0:
            await _off_loop(writer.abort)  # an empty file is no file
            return None
        return writer


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    """File writes and fsyncs can block on a busy disk: never on the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)
