"""The blob store: attachment bytes live here (content-addressed), never in the queue."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import BinaryIO

from gateway.models import Attachment

# (magic prefix, content type). Sniffed from bytes: a declared type is a claim, not a fact.
_MAGIC: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"RIFF", "audio/wav"),
    (b"ID3", "audio/mpeg"),
    (b"OggS", "audio/ogg"),
    (b"MZ", "application/x-msdownload"),
    (b"\x7fELF", "application/x-executable"),
]
FORBIDDEN = {"application/x-msdownload", "application/x-executable"}
INCOMING = ".incoming"  # uploads being received; a name here is never a blob


def sniff(data: bytes) -> str:
    for magic, ctype in _MAGIC:
        if data.startswith(magic):
            return ctype
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "image/heic" if data[8:12] in (b"heic", b"heix", b"mif1") else "video/mp4"
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain"


class BlobStore:
    def __init__(self, root: Path, *, batch_sync: bool = False) -> None:
        """With `batch_sync`, files are written at once but made durable together by `sync()`, which the
        caller must run before it commits anything that refers to them (one pass of fsyncs per batch)."""
        self.root = root
        self.batch_sync = batch_sync
        self._unsynced: list[Path] = []

    def path_for(self, key: str) -> Path:
        return self.root / key[:2] / key

    def put(self, data: bytes, filename: str) -> Attachment:
        """Store durably (fsync) and describe. Forbidden types are described but not kept."""
        digest = hashlib.sha256(data).hexdigest()
        ctype = sniff(data)
        if ctype in FORBIDDEN:
            return Attachment(
                filename=filename, content_type=ctype, size=len(data), sha256=digest, kept=False,
                reason="program files are not accepted",
            )  # fmt: skip
        path = self.path_for(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{secrets.token_hex(8)}")  # unique per writer, thread or process
            try:
                with open(tmp, "wb") as f:
                    f.write(data)
                    f.flush()
                    if not self.batch_sync:
                        os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                tmp.unlink(missing_ok=True)  # a full disk leaves no half-written file behind
                raise
            if self.batch_sync:
                self._unsynced.append(path)
            else:
                _fsync_dir(path.parent)
        return Attachment(filename=filename, content_type=ctype, size=len(data), sha256=digest, storage_key=digest)

    def sync(self) -> int:
        """Make every file written since the last sync durable, and the directories that name them."""
        paths, self._unsynced = self._unsynced, []
        for path in paths:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for directory in {p.parent for p in paths}:
            _fsync_dir(directory)
        return len(paths)

    def get(self, key: str) -> bytes:
        return self.path_for(key).read_bytes()

    def delete(self, key: str) -> int:
        """Remove a stored file (a records request); 1 when there was one."""
        path = self.path_for(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return 0
        _fsync_dir(path.parent)
        return 1

    def writer(self, filename: str, limit: int) -> BlobWriter:
        """A file that arrives in pieces (an upload), written as it comes: never held whole in memory."""
        return BlobWriter(self, filename, limit)


SNIFF_BYTES = 4096  # what sniff() looks at


class BlobWriter:
    """One upload streamed to a private temporary file, hashed as it goes. `finish` makes it a blob (durable,
    content-addressed, sniffed like `put`); `abort` leaves nothing behind. Blocking file calls: run them off
    the event loop."""

    def __init__(self, store: BlobStore, filename: str, limit: int) -> None:
        self.store, self.filename, self.limit = store, filename, limit
        self.size = 0
        self.too_large = False
        self._hash = hashlib.sha256()
        self._head = b""
        incoming = store.root / INCOMING
        incoming.mkdir(parents=True, exist_ok=True)
        self._tmp = incoming / f"upload-{secrets.token_hex(12)}"
        self._file: BinaryIO | None = open(self._tmp, "wb")  # noqa: SIM115 (closed by finish or abort)

    def write(self, chunk: bytes) -> bool:
        """Append a piece; False (and nothing more is kept) once the upload passes the limit."""
        if self.too_large or self._file is None:
            return False
        self.size += len(chunk)
        if self.size > self.limit:
            self.too_large = True
            self.abort()
            return False
        if len(self._head) < SNIFF_BYTES:
            self._head += chunk[: SNIFF_BYTES - len(self._head)]
        self._hash.update(chunk)
        try:
            self._file.write(chunk)
        except BaseException:
            self.abort()  # a full disk: nothing half-written stays in .incoming
            raise
        return True

    def finish(self) -> Attachment:
        if self._file is None or self.too_large:
            raise ValueError("the upload was abandoned or is over its limit")
        digest = self._hash.hexdigest()
        ctype = sniff(self._head)
        if ctype in FORBIDDEN:
            self.abort()
            return Attachment(
                filename=self.filename, content_type=ctype, size=self.size, sha256=digest, kept=False,
                reason="program files are not accepted",
            )  # fmt: skip
        f, self._file = self._file, None
        try:
            f.flush()
            os.fsync(f.fileno())
            f.close()
            path = self.store.path_for(digest)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._tmp, path)  # the same content twice is the same name: the second replaces the first
        except BaseException:
            f.close()
            self._tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)
        return Attachment(filename=self.filename, content_type=ctype, size=self.size, sha256=digest, storage_key=digest)

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._tmp.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    """A rename is durable only once the directory holding the new name is synced."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
