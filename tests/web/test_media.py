"""Media serving: Range, validators, HEAD, content types, and no escape from DATA_DIR."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from web.media import Unsatisfiable, parse_range, servable
from worker.storage import LocalStorage

KEY = "articles/2026/11/27/sample/audio.mp3"


@pytest.fixture
def mp3_key(storage: LocalStorage, mp3_bytes: bytes) -> str:
    storage.write_bytes(KEY, mp3_bytes)
    return KEY


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 100, None),
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=90-", 100, (90, 99)),
        ("bytes=-10", 100, (90, 99)),
        ("bytes=-1000", 100, (0, 99)),
        ("bytes=50-1000", 100, (50, 99)),
        ("bytes=0-0,5-6", 100, None),  # multi-range: ignored, whole file
        ("items=0-5", 100, None),
        ("bytes=5-2", 100, None),
        ("bytes=abc", 100, None),
        ("bytes=-", 100, None),
    ],
)
def test_parse_range(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=100-", 100), ("bytes=-0", 100), ("bytes=0-", 0)]
)
def test_parse_range_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, size)


def test_full_get(client: TestClient, mp3_key: str, mp3_bytes: bytes) -> None:
    r = client.get(f"/media/{mp3_key}")
    assert r.status_code == 200
    assert r.content == mp3_bytes
    assert r.headers["content-type"] == "audio/mpeg"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-length"] == str(len(mp3_bytes))
    assert r.headers["etag"].startswith('"')
    assert r.headers["last-modified"].endswith("GMT")
    assert "max-age=" in r.headers["cache-control"]


def test_range_middle(client: TestClient, mp3_key: str, mp3_bytes: bytes) -> None:
    first, last = 1000, 4999
    r = client.get(f"/media/{mp3_key}", headers={"Range": f"bytes={first}-{last}"})
    assert r.status_code == 206
    assert r.content == mp3_bytes[first : last + 1]
    assert r.headers["content-range"] == f"bytes {first}-{last}/{len(mp3_bytes)}"
    assert r.headers["content-length"] == str(last - first + 1)


def test_suffix_and_open_ranges(client: TestClient, mp3_key: str, mp3_bytes: bytes) -> None:
    r = client.get(f"/media/{mp3_key}", headers={"Range": "bytes=-100"})
    assert r.status_code == 206 and r.content == mp3_bytes[-100:]
    r = client.get(f"/media/{mp3_key}", headers={"Range": f"bytes={len(mp3_bytes) - 7}-"})
    assert r.status_code == 206 and r.content == mp3_bytes[-7:]


def test_unsatisfiable_range(client: TestClient, mp3_key: str, mp3_bytes: bytes) -> None:
    r = client.get(f"/media/{mp3_key}", headers={"Range": f"bytes={len(mp3_bytes)}-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(mp3_bytes)}"
    assert r.content == b""


def test_head(client: TestClient, mp3_key: str, mp3_bytes: bytes) -> None:
    r = client.head(f"/media/{mp3_key}")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["content-length"] == str(len(mp3_bytes))
    assert r.headers["content-type"] == "audio/mpeg"
    r = client.head(f"/media/{mp3_key}", headers={"Range": "bytes=0-9"})
    assert r.status_code == 206 and r.headers["content-length"] == "10"


def test_conditional_requests(client: TestClient, mp3_key: str, mp3_bytes: bytes) -> None:
    etag = client.get(f"/media/{mp3_key}").headers["etag"]
    r = client.get(f"/media/{mp3_key}", headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b""
    # If-Range with a stale validator: the whole file, not a piece of a changed one
    r = client.get(f"/media/{mp3_key}", headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert r.status_code == 200 and r.content == mp3_bytes
    r = client.get(f"/media/{mp3_key}", headers={"Range": "bytes=0-9", "If-Range": etag})
    assert r.status_code == 206 and r.content == mp3_bytes[:10]


def test_content_types(client: TestClient, storage: LocalStorage) -> None:
    storage.write_bytes("articles/2026/11/27/s/audio.vtt", b"WEBVTT\n")
    storage.write_bytes("podcast.xml", b"<rss/>")
    storage.write_bytes("briefing.xml", b"<rss version='2.0'/>")
    assert (
        client.get("/media/articles/2026/11/27/s/audio.vtt")
        .headers["content-type"]
        .startswith("text/vtt")
    )
    r = client.get("/podcast.xml")
    assert r.status_code == 200 and r.content == b"<rss/>"
    assert r.headers["content-type"].startswith("application/rss+xml")
    assert r.headers["cache-control"] == "public, max-age=300"
    assert client.get("/briefing.xml").content == b"<rss version='2.0'/>"
    assert client.head("/briefing.xml").status_code == 200


def test_missing_feed_is_404(client: TestClient) -> None:
    assert client.get("/podcast.xml").status_code == 404


@pytest.mark.parametrize(
    "key",
    [
        "../digestcast.db",
        "articles/../../digestcast.db",
        "articles/%2e%2e/%2e%2e/digestcast.db",
        "articles/..%2f..%2fdigestcast.db",
        "articles%2f..%2f..%2fdigestcast.db",
        "%2e%2e%2fdigestcast.db",
        "articles/..\\..\\digestcast.db",
        "/etc/passwd",
        "articles//etc/passwd",
        "articles/./x",
        "secret.txt",
        "articles/2026/.hidden",
    ],
)
def test_no_traversal(client: TestClient, storage: LocalStorage, key: str) -> None:
    # a file right outside the data directory and one inside it but not servable
    assert (storage.root.parent / "digestcast.db").is_file()  # the target of the attempts
    storage.write_bytes("secret.txt", b"not for the web")
    storage.write_bytes("articles/2026/.hidden", b"hidden")
    r = client.get(f"/media/{key}")
    assert r.status_code in (400, 404)
    assert b"SQLite" not in r.content and b"not for the web" not in r.content
    assert b"hidden" not in r.content and b"root:" not in r.content


def test_symlink_out_of_data_dir_is_refused(client: TestClient, storage: LocalStorage) -> None:
    outside = storage.root.parent / "outside.mp3"
    outside.write_bytes(b"outside")
    link = storage.root / "articles" / "link.mp3"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)
    r = client.get("/media/articles/link.mp3")
    assert r.status_code == 404
    assert r.content != b"outside"


def test_servable() -> None:
    assert servable("articles/2026/11/27/x/audio.mp3")
    assert servable("digests/2026-11-27/briefing.mp3")
    assert servable("podcast.xml") and servable("briefing.xml")
    assert servable("podcast-cover.png")
    assert not servable("other.xml")
    assert not servable("articles/../x")
    assert not servable("articles/x/.audio.mp3.tmp")
