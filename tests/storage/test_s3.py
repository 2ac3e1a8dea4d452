"""S3Storage against a real S3 endpoint: moto's server mode on loopback (no internet)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.settings import Settings
from worker.storage import StorageError, get_storage
from worker.storage.s3 import S3Storage, parse_url


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # moto accepts any credentials; set them so boto3 never looks for real ones
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def storage(s3_endpoint: str, aws_env: None) -> S3Storage:
    bucket = f"dc-{uuid.uuid4().hex[:16]}"
    store = S3Storage.from_url(f"s3://{bucket}/prod?endpoint_url={s3_endpoint}&region=us-east-1")
    store.ensure_bucket()
    return store


def test_round_trip_size_and_delete(storage: S3Storage) -> None:
    key = "articles/2026/11/27/kyiv-metro/audio.mp3"
    payload = b"ID3" + bytes(range(256)) * 40
    assert not storage.exists(key)
    storage.write_bytes(key, payload)
    assert storage.exists(key)
    assert storage.read_bytes(key) == payload
    assert storage.size(key) == len(payload)
    assert storage.local_path(key) is None
    # overwrite replaces the whole object
    storage.write_bytes(key, b"short")
    assert storage.read_bytes(key) == b"short"
    assert storage.size(key) == 5
    storage.delete(key)
    assert not storage.exists(key)
    storage.delete(key)  # deleting a missing key is not an error, as with LocalStorage
    with pytest.raises(FileNotFoundError):
        storage.read_bytes(key)
    with pytest.raises(FileNotFoundError):
        storage.size(key)


def test_keys_live_under_the_prefix_with_content_types(storage: S3Storage) -> None:
    storage.write_bytes("podcast.xml", b"<rss/>")
    head = storage.client.head_object(Bucket=storage.bucket, Key="prod/podcast.xml")
    assert head["ContentType"].startswith("application/rss+xml")
    assert storage.read_bytes("podcast.xml") == b"<rss/>"


def test_list_matches_the_local_layout(storage: S3Storage) -> None:
    keys = [
        "articles/2026/11/27/a/article.json",
        "articles/2026/11/27/a/audio.mp3",
        "articles/2026/11/27/b/article.json",
        "articles/2026/11/28/c/article.json",
        "digests/2026-11-27/digest.html",
        "podcast.xml",
    ]
    for key in keys:
        storage.write_bytes(key, key.encode())
    assert list(storage.list("articles/2026/11/27")) == keys[:3]
    assert list(storage.list("articles/2026/11/27/")) == keys[:3]
    # a prefix is a folder: "articles/2026/11/2" does not match 27 and 28
    assert list(storage.list("articles/2026/11/2")) == []
    assert sorted(storage.list("")) == sorted(keys)
    assert list(storage.list("nothing-here")) == []


def test_list_follows_pages(storage: S3Storage) -> None:
    # S3 answers at most 1,000 keys per request; a small page size exercises the same paging
    storage.page_size = 4
    keys = [f"articles/2026/11/27/s{i:02d}/article.json" for i in range(11)]
    for key in keys:
        storage.write_bytes(key, b"{}")
    assert list(storage.list("articles")) == keys


@pytest.mark.parametrize(
    "key", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a\\b", "a/./b", "x\x00y"]
)
def test_bad_keys_are_refused(storage: S3Storage, key: str) -> None:
    with pytest.raises(StorageError):
        storage.write_bytes(key, b"x")
    with pytest.raises(StorageError):
        storage.exists(key)


def test_parse_url() -> None:
    loc = parse_url("s3://media/prod/v1?endpoint_url=http://127.0.0.1:9000&region=eu-central-1")
    assert (loc.bucket, loc.prefix, loc.endpoint_url, loc.region) == (
        "media",
        "prod/v1",
        "http://127.0.0.1:9000",
        "eu-central-1",
    )
    assert parse_url("s3://media").prefix == ""
    for bad in [
        "https://media/x",
        "s3:///x",
        "s3://k:s@media/x",
        "s3://m/x?secret=1",
        "s3://m/../x",
    ]:
        with pytest.raises(StorageError):
            parse_url(bad)


def test_get_storage_picks_s3_from_settings(
    s3_endpoint: str, aws_env: None, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        storage_url=f"s3://dc-settings/p?endpoint_url={s3_endpoint}&region=us-east-1",
    )
    store = get_storage(settings)
    assert isinstance(store, S3Storage)
    store.ensure_bucket()
    store.write_bytes("digests/2026-11-27/digest.txt", b"hello")
    assert store.read_bytes("digests/2026-11-27/digest.txt") == b"hello"
    assert not (tmp_path / "digests").exists()


@pytest.mark.slow
@pytest.mark.integration
def test_whole_daily_run_against_s3(s3_endpoint: str, aws_env: None, tmp_path: Path) -> None:
    """`digestcast run` on the sample day with STORAGE_URL=s3://...: every file lands in the
    bucket under the local layout's keys, nothing under DATA_DIR, and the mail goes out."""
    import os

    from tests.integration.test_daily_run import (
        EXAMPLES,
        SAMPLE_DATE,
        cli_env,
        digestcast,
        outbox_messages,
        sample_subscribers,
    )

    url = f"s3://dc-run-{uuid.uuid4().hex[:10]}/daily?endpoint_url={s3_endpoint}&region=us-east-1"
    store = S3Storage.from_url(url)
    store.ensure_bucket()
    env = cli_env(
        tmp_path,
        DIGESTCAST_STORAGE_URL=url,
        DIGESTCAST_TTS_ENGINE="espeak",
        # storage is under test here, not the briefing (the daily-run test speaks all of it)
        DIGESTCAST_BRIEFING_STORIES="2",
        AWS_ACCESS_KEY_ID=os.environ["AWS_ACCESS_KEY_ID"],
        AWS_SECRET_ACCESS_KEY=os.environ["AWS_SECRET_ACCESS_KEY"],
    )
    digestcast(env, "db", "upgrade")
    digestcast(env, "subscribers", "import", str(EXAMPLES / "subscribers.csv"))
    digestcast(env, "run", "--date", SAMPLE_DATE)

    keys = set(store.list(""))
    articles = {k.rsplit("/", 1)[0] for k in keys if k.endswith("/article.json")}
    assert len(articles) >= 6
    for prefix in articles:
        assert {f"{prefix}/audio.mp3", f"{prefix}/audio.json"} <= keys, prefix
        meta = json.loads(store.read_bytes(f"{prefix}/audio.json"))
        assert meta["bytes"] == store.size(f"{prefix}/audio.mp3") > 0
    assert "podcast.xml" in keys
    assert f"digests/{SAMPLE_DATE}/digest.html" in keys
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.mp3"))
    recipients = sorted(str(m["To"]) for m in outbox_messages(tmp_path / "outbox"))
    assert len(recipients) == len(sample_subscribers())

    # the web app on another host serves the same objects: the feed, and audio by byte range
    from fastapi.testclient import TestClient

    from tests.conftest import make_settings
    from web.app import create_app

    web_settings = make_settings(tmp_path, storage_url=url)
    audio_key = f"{sorted(articles)[0]}/audio.mp3"
    with TestClient(create_app(web_settings), base_url="https://daily.example.org") as client:
        feed = client.get("/podcast.xml")
        assert feed.status_code == 200 and feed.content == store.read_bytes("podcast.xml")
        part = client.get(f"/media/{audio_key}", headers={"Range": "bytes=0-99"})
        assert part.status_code == 206
        assert part.content == store.read_bytes(audio_key)[:100]
        assert part.headers["content-range"] == f"bytes 0-99/{store.size(audio_key)}"
        assert client.get("/media/articles/nope/audio.mp3").status_code == 404
