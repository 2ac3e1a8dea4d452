"""LocalStorage: atomic writes, and no key can escape the data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.storage import LocalStorage, StorageError, check_key


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a\\b", "a/\x00b", "..", "a/.."],
)
def test_bad_keys_are_refused(tmp_path: Path, key: str) -> None:
    storage = LocalStorage(tmp_path / "data")
    with pytest.raises(StorageError):
        storage.write_bytes(key, b"x")
    with pytest.raises(StorageError):
        check_key(key)


def test_symlink_out_of_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    storage = LocalStorage(root)
    with pytest.raises(StorageError):
        storage.read_bytes("link/secret")


def test_open_contained_checks_the_opened_file(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "articles").mkdir(parents=True)
    (tmp_path / "secret").write_bytes(b"outside")
    (root / "articles" / "in.mp3").write_bytes(b"inside")
    (root / "articles" / "dir-link").symlink_to(tmp_path)
    (root / "articles" / "file-link.mp3").symlink_to(tmp_path / "secret")
    (root / "articles" / "ok-link.mp3").symlink_to(root / "articles" / "in.mp3")
    storage = LocalStorage(root)
    with storage.open_contained("articles/in.mp3") as handle:
        assert handle.read() == b"inside"
    with storage.open_contained("articles/ok-link.mp3") as handle:  # a link staying inside
        assert handle.read() == b"inside"
    for key in ("articles/dir-link/secret", "articles/file-link.mp3"):
        with pytest.raises(StorageError):
            storage.open_contained(key)
    with pytest.raises(FileNotFoundError):
        storage.open_contained("articles/missing.mp3")


def test_round_trip_and_listing(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "data")
    storage.write_bytes("articles/2026/11/27/a/article.json", b"{}")
    storage.write_bytes("articles/2026/11/27/a/audio.mp3", b"ID3")
    assert storage.read_bytes("articles/2026/11/27/a/audio.mp3") == b"ID3"
    assert storage.size("articles/2026/11/27/a/article.json") == 2
    assert list(storage.list("articles/2026")) == [
        "articles/2026/11/27/a/article.json",
        "articles/2026/11/27/a/audio.mp3",
    ]
    storage.delete("articles/2026/11/27/a/audio.mp3")
    assert not storage.exists("articles/2026/11/27/a/audio.mp3")


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "data")
    storage.write_bytes("digests/2026-11-27/digest.html", b"old")

    folder = tmp_path / "data" / "digests" / "2026-11-27"
    with pytest.raises(TypeError):
        storage.write_bytes("digests/2026-11-27/digest.html", object())  # type: ignore[arg-type]
    assert storage.read_bytes("digests/2026-11-27/digest.html") == b"old"
    assert [p.name for p in folder.iterdir()] == ["digest.html"]
