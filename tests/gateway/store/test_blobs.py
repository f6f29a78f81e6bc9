"""The blob store: content-addressed, sniffed types, durable writes (at once, or per batch)."""

from __future__ import annotations

from pathlib import Path

from gateway.store.blobs import FileBlobStore

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_a_file_is_stored_by_content_and_its_type_is_sniffed_not_declared(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    a = store.put(PNG, "photo.pdf")
    assert (a.content_type, a.size, a.kept) == ("image/png", len(PNG), True)
    assert a.storage_key is not None and store.get(a.storage_key) == PNG
    assert store.put(PNG, "again.png").storage_key == a.storage_key


def test_batch_sync_writes_at_once_and_makes_the_batch_durable_together(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path, batch_sync=True)
    keys = [store.put(PNG + bytes([i]), f"f{i}.png").storage_key for i in range(5)]
    assert all(k is not None and store.get(k).startswith(PNG) for k in keys)
    assert store.sync() == 5
    assert store.sync() == 0  # nothing written since


def test_a_program_is_described_but_never_kept(tmp_path: Path) -> None:
    a = FileBlobStore(tmp_path).put(b"MZ\x90\x00" + b"\x00" * 60, "setup.exe")
    assert (a.kept, a.storage_key, a.reason) == (False, None, "program files are not accepted")
    assert not any(p.is_file() for p in tmp_path.rglob("*"))
