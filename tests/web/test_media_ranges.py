"""The raw-ASGI hot path for /media/ ranges (web/media_ranges.py): what it answers is what the
full stack answers, byte for byte and header for header; everything else is left to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from starlette.types import Receive, Scope, Send

from web.app import create_app
from web.media_ranges import RangeFastPath
from worker.settings import Settings
from worker.storage import LocalStorage

KEY = "articles/2026/11/27/fast/audio.mp3"


@pytest.fixture
def app(web_settings: Settings) -> FastAPI:
    return create_app(web_settings)


def fast_path(app: FastAPI) -> RangeFastPath:
    if app.middleware_stack is None:
        app.middleware_stack = app.build_middleware_stack()
    stack = app.middleware_stack
    assert isinstance(stack, RangeFastPath)
    return stack


@pytest.fixture
def clients(app: FastAPI) -> Iterator[tuple[TestClient, TestClient]]:
    """(everything, the full stack alone): the second never goes through the fast path."""
    stack = fast_path(app)

    async def full_only(scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = app  # what Starlette's __call__ puts there before its stack runs
        await stack.full(scope, receive, send)

    with TestClient(app) as client, TestClient(full_only) as full:
        yield client, full


def scope_for(path: str, *headers: tuple[bytes, bytes]) -> Scope:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": [(b"host", b"testserver"), *headers],
        "scheme": "http",
    }


def same_answer(client: TestClient, full: TestClient, path: str, **headers: str) -> None:
    mine, theirs = client.get(path, headers=headers), full.get(path, headers=headers)
    assert mine.status_code == theirs.status_code
    assert mine.content == theirs.content
    drop = {"date"}
    assert {k: v for k, v in mine.headers.items() if k not in drop} == {
        k: v for k, v in theirs.headers.items() if k not in drop
    }


RANGES = [None, "bytes=100-1123", "bytes=0-0", "bytes=-10", "bytes=500-", "bytes=900-99999999"]


def test_the_fast_answer_is_the_full_stacks(
    clients: tuple[TestClient, TestClient], storage: LocalStorage, mp3_bytes: bytes
) -> None:
    storage.write_bytes(KEY, mp3_bytes)
    client, full = clients
    for base in ("http://testserver", "https://testserver"):  # https: HSTS too
        client.base_url = full.base_url = base  # type: ignore[assignment]
        for range_header in RANGES:
            headers = {"Range": range_header} if range_header else {}
            same_answer(client, full, f"/media/{KEY}", **headers)


def test_the_plain_cases_are_answered_here(app: FastAPI, storage: LocalStorage) -> None:
    storage.write_bytes(KEY, b"0123456789" * 100)
    storage.write_bytes("articles/2026/11/27/fast/audio.vtt", b"WEBVTT\n")
    storage.write_bytes("podcast.xml", b"<rss/>")
    path = fast_path(app)
    answer = path._answer(scope_for(f"/media/{KEY}", (b"range", b"bytes=10-19")))
    assert answer is not None
    status, headers, body = answer
    assert (status, body) == (206, b"0123456789")
    assert (b"content-range", b"bytes 10-19/1000") in headers
    assert (b"x-content-type-options", b"nosniff") in headers
    whole = path._answer(scope_for("/media/articles/2026/11/27/fast/audio.vtt"))
    assert whole is not None and whole[0] == 200 and whole[2] == b"WEBVTT\n"
    assert (b"content-type", b"text/vtt; charset=utf-8") in whole[1]
    feed = path._answer(scope_for("/media/podcast.xml"))
    assert feed is not None and (b"cache-control", b"public, max-age=300") in feed[1]


BIG = "articles/2026/11/27/fast/big.mp3"
DECLINED: list[tuple[str, list[tuple[bytes, bytes]]]] = [
    (f"/media/{KEY}", [(b"if-none-match", b'"x"')]),
    (f"/media/{KEY}", [(b"if-modified-since", b"Fri, 27 Nov 2026 00:00:00 GMT")]),
    (f"/media/{KEY}", [(b"range", b"bytes=0-9"), (b"if-range", b'"x"')]),
    (f"/media/{KEY}", [(b"range", b"bytes=1000-")]),  # 416
    (f"/media/{BIG}", [(b"range", b"bytes=0-99999999")]),  # more than INLINE_MAX
    ("/media/articles/2026/11/27/fast/missing.mp3", []),
    ("/media/secret.txt", []),
    ("/media/articles/../secret.txt", []),
    ("/media/articles/2026/11/27/fast", []),  # a directory
    ("/media/articles/link.mp3", []),  # a symlink out of DATA_DIR
]


def test_everything_else_is_left_to_the_full_stack(app: FastAPI, storage: LocalStorage) -> None:
    storage.write_bytes(KEY, b"x" * 1000)
    storage.write_bytes("secret.txt", b"not for the web")
    storage.write_bytes(BIG, b"\0" * (2 * 1024 * 1024))
    outside = storage.root.parent / "outside.mp3"
    outside.write_bytes(b"outside")
    (storage.root / "articles" / "link.mp3").symlink_to(outside)
    for path, headers in DECLINED:
        assert fast_path(app)._answer(scope_for(path, *headers)) is None, (path, headers)
    # HEAD never reaches _answer: the full stack answers it (media.py reads no file for it)


def test_refusals_and_big_answers_still_come(
    clients: tuple[TestClient, TestClient], storage: LocalStorage
) -> None:
    client, _ = clients
    storage.write_bytes(KEY, b"x" * 1000)
    storage.write_bytes("secret.txt", b"not for the web")
    r = client.get(f"/media/{KEY}", headers={"Range": "bytes=1000-"})
    assert r.status_code == 416 and r.headers["x-frame-options"] == "DENY"
    r = client.get("/media/secret.txt")
    assert r.status_code == 404 and b"not for the web" not in r.content
    etag = client.get(f"/media/{KEY}").headers["etag"]
    assert client.get(f"/media/{KEY}", headers={"If-None-Match": etag}).status_code == 304


def test_a_changed_or_removed_file_is_seen_at_once(
    clients: tuple[TestClient, TestClient], storage: LocalStorage
) -> None:
    """Nothing about a file is kept between requests but its headers per version."""
    client, _ = clients
    storage.write_bytes(KEY, b"a" * 100)
    first = client.get(f"/media/{KEY}", headers={"Range": "bytes=0-9"})
    assert first.status_code == 206 and first.content == b"a" * 10
    storage.write_bytes(KEY, b"b" * 200)  # re-synthesis: an atomic replace
    second = client.get(f"/media/{KEY}", headers={"Range": "bytes=0-9"})
    assert second.content == b"b" * 10
    assert second.headers["content-range"] == "bytes 0-9/200"
    assert second.headers["etag"] != first.headers["etag"]
    storage.delete(KEY)
    assert client.get(f"/media/{KEY}", headers={"Range": "bytes=0-9"}).status_code == 404


def test_fast_answers_are_counted_as_media(
    clients: tuple[TestClient, TestClient], storage: LocalStorage
) -> None:
    client, _ = clients
    storage.write_bytes(KEY, b"x" * 1000)

    def count() -> float:
        labels = {"endpoint": "media", "method": "GET", "status": "206"}
        return REGISTRY.get_sample_value("digestcast_http_requests_total", labels) or 0.0

    before = count()
    for _ in range(3):
        assert client.get(f"/media/{KEY}", headers={"Range": "bytes=0-9"}).status_code == 206
    assert count() - before == 3
