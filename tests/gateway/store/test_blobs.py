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


def test_a_blob_cut_short_by_a_power_cut_is_written_again_and_a_directory_emptied_by_hand_is_made_again(
    tmp_path: Path,
) -> None:
    """With batch_sync a file is renamed into place before its batch's fsync; a power cut there leaves it short
    under its final name, and its mail (never committed) is fetched again: the next put must not take it as kept."""
    store = FileBlobStore(tmp_path, batch_sync=True)
    key = store.put(PNG, "photo.png").storage_key
    assert key is not None
    store.path_for(key).write_bytes(PNG[:5])  # what the cut left
    assert FileBlobStore(tmp_path, batch_sync=True).put(PNG, "photo.png").storage_key == key
    assert store.get(key) == PNG
    store.path_for(key).unlink()
    store.path_for(key).parent.rmdir()  # an operator's clean-up, under a store that made that folder before
    assert store.put(PNG, "photo.png").storage_key == key and store.get(key) == PNG
    assert store.sync() == 2 and not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]
