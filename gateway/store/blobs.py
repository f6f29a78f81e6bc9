"""The blob store: attachment bytes live here (content-addressed), never in the queue."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

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
DEFAULT_MAX_BYTES = 32 * 1024 * 1024  # blobs.max_bytes
_TMP_SERIAL = itertools.count()  # with the pid, a temporary file's name no other writer uses


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


class BlobMissing(FileNotFoundError):
    """No blob under this key: never kept, or forgotten since (a records request)."""


class BlobStore(Protocol):
    """Where attachments' bytes are kept, content-addressed: a kept file's `storage_key` is its sha256, and the same
    bytes are kept once. A file of a forbidden type or over `max_bytes` is described (name, type, size), not kept.
    Open the configured one with `gateway.store.blob_stores.open_blobs(settings)`."""

    max_bytes: int

    def put(self, data: bytes, filename: str) -> Attachment:
        """Keep the bytes durably (before the caller commits anything naming them) and describe them."""
        ...

    def get(self, key: str) -> bytes:
        """The kept bytes; BlobMissing (an OSError) when there are none."""
        ...

    def delete(self, key: str) -> int:
        """Forget a kept file (a records request); 1 when there was one."""
        ...

    def writer(self, filename: str, limit: int) -> BlobWriter:
        """A file that arrives in pieces (an upload), written as it comes: never held whole in memory."""
        ...

    def sync(self) -> int:
        """Make durable what `put` left to be synced in a batch; how many files that was."""
        ...

    def unsynced(self) -> list[str]:
        """What `put` left to be synced in a batch, handed over instead: the caller makes every path durable
        (`fsync_each`, in any process) before it commits anything that refers to these files."""
        ...


def describe(filename: str, ctype: str, size: int, digest: str, max_bytes: int) -> Attachment:
    """How a file is named on the ticket: kept under its digest, or not kept (a program, or one over the size
    limit) with the reason the family and staff read."""
    if ctype in FORBIDDEN:
        reason = "program files are not accepted"
    elif size > max_bytes:
        reason = f"larger than the {_megabytes(max_bytes)} the gateway keeps"
    else:
        return Attachment(filename=filename, content_type=ctype, size=size, sha256=digest, storage_key=digest)
    return Attachment(filename=filename, content_type=ctype, size=size, sha256=digest, kept=False, reason=reason)


def describe_bytes(data: bytes, filename: str, max_bytes: int) -> Attachment:
    """`describe` for a file held whole: its type sniffed and its digest taken here."""
    return describe(filename, sniff(data), len(data), hashlib.sha256(data).hexdigest(), max_bytes)


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.3g} MB"


class FileBlobStore:
    """Blobs as files under one directory (data_dir/blobs): the default, for one host."""

    def __init__(self, root: Path, *, batch_sync: bool = False, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        """With `batch_sync`, files are written at once and made durable in a batch, by `sync()` or by whoever
        `unsynced()` hands them to, which must happen before anything that refers to them is committed."""
        self.root = root
        self.batch_sync = batch_sync
        self.max_bytes = max_bytes
        self._written: list[str] = []
        self._dirs: set[str] = set()
        self._root = str(root)
        self._made: set[str] = set()  # directories this store has made or found: no mkdir per file

    def path_for(self, key: str) -> Path:
        return self.root / key[:2] / key

    def put(self, data: bytes, filename: str) -> Attachment:
        """Store durably (fsync) and describe. Forbidden types are described but not kept.

        Plain string paths and a remembered set of made directories: for mail, where every message's raw copy is
        a new file, pathlib's objects, a mkdir per file (an exception each time it exists) and a random name were
        a third of the time spent here."""
        described = describe_bytes(data, filename, self.max_bytes)
        if not described.kept:
            return described
        key = described.sha256
        folder = os.path.join(self._root, key[:2])
        path = os.path.join(folder, key)
        if _holds(path, len(data)):
            return described
        if folder not in self._made:
            os.makedirs(folder, exist_ok=True)
            self._made.add(folder)
        tmp = f"{path}.tmp{os.getpid()}-{next(_TMP_SERIAL)}"  # unique per writer, thread or process
        try:
            self._write(tmp, data)
        except FileNotFoundError:  # the directory went away since it was made (emptied by hand): make it again
            os.makedirs(folder, exist_ok=True)
            self._write(tmp, data)
        try:
            os.replace(tmp, path)
        except BaseException:
            _unlink(tmp)
            raise
        if self.batch_sync:
            self._written.append(path)
            self._dirs.add(folder)
        else:
            _fsync_dir(Path(folder))
        return described

    def _write(self, tmp: str, data: bytes) -> None:
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                if not self.batch_sync:
                    os.fsync(f.fileno())
        except BaseException:
            _unlink(tmp)  # a full disk leaves no half-written file behind
            raise

    def sync(self) -> int:
        """Make every file written since the last sync durable, and the directories that name them."""
        count = len(self._written)
        fsync_each(self.unsynced())
        return count

    def unsynced(self) -> list[str]:
        """The files written since the last sync or hand-over, and the directories that name them (their renames
        are all done: the order of their fsyncs does not matter), no longer this store's to sync."""
        paths = [*self._written, *self._dirs]
        self._written, self._dirs = [], set()
        return paths

    def get(self, key: str) -> bytes:
        try:
            return self.path_for(key).read_bytes()
        except FileNotFoundError:
            raise BlobMissing(key) from None

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
        return BlobWriter(self.root / INCOMING, self._adopt, filename, limit, self.max_bytes)

    def _adopt(self, tmp: Path, digest: str) -> None:
        """A finished upload (already fsynced) becomes the blob of its digest."""
        path = self.path_for(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, path)  # the same content twice is the same name: the second replaces the first
        _fsync_dir(path.parent)


SNIFF_BYTES = 4096  # what sniff() looks at


class BlobWriter:
    """One upload streamed to a private temporary file under `incoming`, hashed as it goes. `finish` hands it to
    its store (`adopt`: durable, content-addressed, sniffed like `put`); `abort` leaves nothing behind. Past the
    store's `max_bytes` (but within `limit`) it is only counted, to be described. Blocking file calls: run them
    off the event loop."""

    def __init__(
        self, incoming: Path, adopt: Callable[[Path, str], None], filename: str, limit: int, max_bytes: int
    ) -> None:
        self.adopt, self.filename, self.limit, self.max_bytes = adopt, filename, limit, max_bytes
        self.size = 0
        self.too_large = False
        self._hash = hashlib.sha256()
        self._head = b""
        incoming.mkdir(parents=True, exist_ok=True)
        self._tmp = incoming / f"upload-{secrets.token_hex(12)}"
        self._file: BinaryIO | None = open(self._tmp, "wb")  # noqa: SIM115 (closed by finish or abort)
        self._counting = False  # past max_bytes: nothing more is written, the size is still told

    def write(self, chunk: bytes) -> bool:
        """Append a piece; False (and nothing more is kept) once the upload passes the limit."""
        if self.too_large or (self._file is None and not self._counting):
            return False
        self.size += len(chunk)
        if self.size > self.limit:
            self.too_large = True
            self.abort()
            return False
        if len(self._head) < SNIFF_BYTES:
            self._head += chunk[: SNIFF_BYTES - len(self._head)]
        self._hash.update(chunk)
        if self.size > self.max_bytes and not self._counting:
            self.abort()
            self._counting = True
        if self._file is not None:
            try:
                self._file.write(chunk)
            except BaseException:
                self.abort()  # a full disk: nothing half-written stays in .incoming
                raise
        return True

    def finish(self) -> Attachment:
        if (self._file is None and not self._counting) or self.too_large:
            raise ValueError("the upload was abandoned or is over its limit")
        digest = self._hash.hexdigest()
        ctype = sniff(self._head)
        described = describe(self.filename, ctype, self.size, digest, self.max_bytes)
        if not described.kept:
            self.abort()
            return described
        assert self._file is not None
        f, self._file = self._file, None
        try:
            f.flush()
            os.fsync(f.fileno())
            f.close()
            self.adopt(self._tmp, digest)
        except BaseException:
            f.close()
            self._tmp.unlink(missing_ok=True)
            raise
        return described

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._tmp.unlink(missing_ok=True)


def fsync_each(paths: Sequence[str | Path]) -> None:
    """Make each file or directory durable, one after another. Any process may: fsync acts on the file itself."""
    for path in paths:
        _fsync_path(path)


def _fsync_path(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    """A rename is durable only once the directory holding the new name is synced."""
    _fsync_path(directory)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _holds(path: str, size: int) -> bool:
    """Whether the blob is already kept whole. A file of another size is what a power cut left of a write renamed
    before its batch's fsync (its request was never committed, so the mail is fetched again): it is written again."""
    try:
        return os.stat(path).st_size == size
    except FileNotFoundError:
        return False
