"""Media served from S3-compatible storage (moto's server on loopback): ranges and validators."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from web.app import create_app
from web.media import _iter_handle, file_info
from worker.settings import Settings
from worker.storage import LocalStorage
from worker.storage.s3 import S3Storage

KEY = "articles/2026/11/27/s3/audio.mp3"


@pytest.fixture
def s3_settings(web_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    from moto.server import ThreadedMotoServer

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"s3://dc-{uuid.uuid4().hex[:12]}/web?endpoint_url=http://{host}:{port}&region=us-east-1"
    S3Storage.from_url(url).ensure_bucket()
    try:
        yield web_settings.model_copy(update={"storage_url": url})
    finally:
        server.stop()


def test_range_and_etag_from_s3(s3_settings: Settings, mp3_bytes: bytes) -> None:
    assert s3_settings.storage_url is not None
    S3Storage.from_url(s3_settings.storage_url).write_bytes(KEY, mp3_bytes)
    with TestClient(create_app(s3_settings)) as c:
        full = c.get(f"/media/{KEY}")
        assert full.status_code == 200 and full.content == mp3_bytes
        assert full.headers["content-type"] == "audio/mpeg"
        r = c.get(f"/media/{KEY}", headers={"Range": "bytes=100-199"})
        assert r.status_code == 206 and r.content == mp3_bytes[100:200]
        assert r.headers["content-range"] == f"bytes 100-199/{len(mp3_bytes)}"
        assert (
            c.get(f"/media/{KEY}", headers={"If-None-Match": full.headers["etag"]}).status_code
            == 304
        )
        assert c.head(f"/media/{KEY}").headers["content-length"] == str(len(mp3_bytes))
        assert c.get("/media/articles/missing.mp3").status_code == 404
        assert c.get("/media/articles/..%2f..%2fweb/x").status_code == 404


def test_local_file_replaced_while_streaming(storage: LocalStorage) -> None:
    """A re-synthesis (atomic replace) during a download never mixes two versions."""
    storage.write_bytes(KEY, b"old version bytes")
    info = file_info(storage, KEY)
    assert info is not None and info.handle is not None
    storage.write_bytes(KEY, b"NEW")
    assert b"".join(_iter_handle(info.handle, 0, info.size)) == b"old version bytes"
    assert info.handle.closed


def test_s3_range_fetches_only_the_range(
    s3_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 64 KiB range of a 4 MiB object: one HEAD and one ranged GET on the wire, never the
    whole object (what moto's server answered is counted from the responses themselves)."""
    assert s3_settings.storage_url is not None
    data = bytes(range(256)) * (4 * 4096)  # 4 MiB
    S3Storage.from_url(s3_settings.storage_url).write_bytes(KEY, data)
    calls: list[tuple[str, str | None, int]] = []
    original = S3Storage.__init__

    def spying_init(self: S3Storage, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.client.meta.events.register("after-call.s3", _record(calls))

    monkeypatch.setattr(S3Storage, "__init__", spying_init)
    monkeypatch.setattr(
        S3Storage, "read_bytes", lambda *a: pytest.fail("the whole object was read")
    )
    first = 1_000_000
    with TestClient(create_app(s3_settings)) as c:
        r = c.get(f"/media/{KEY}", headers={"Range": f"bytes={first}-{first + 65535}"})
    assert r.status_code == 206 and r.content == data[first : first + 65536]
    gets = [call for call in calls if call[0] == "GetObject"]
    assert gets == [("GetObject", f"bytes {first}-{first + 65535}/{len(data)}", 65536)]
    assert {call[0] for call in calls} == {"HeadObject", "GetObject"}


def _record(calls: list[tuple[str, str | None, int]]) -> Any:
    def handler(http_response: Any, model: Any, **_: Any) -> None:
        headers = http_response.headers
        calls.append(
            (
                model.name,
                headers.get("content-range"),
                int(headers.get("content-length") or 0),
            )
        )

    return handler


def test_s3_object_replaced_between_head_and_get(
    s3_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ranged GET is pinned to the HEAD's ETag: a replacement in between is retried, so one
    answer never pairs the old length with the new bytes."""
    assert s3_settings.storage_url is not None
    storage = S3Storage.from_url(s3_settings.storage_url)
    storage.write_bytes(KEY, b"old version, longer than the new one")
    original = S3Storage.stat
    replaced: list[bool] = []

    def stat_then_replace(self: S3Storage, key: str) -> Any:
        found = original(self, key)
        if not replaced:
            replaced.append(True)
            storage.write_bytes(KEY, b"NEW")
        return found

    monkeypatch.setattr(S3Storage, "stat", stat_then_replace)
    with TestClient(create_app(s3_settings)) as c:
        r = c.get(f"/media/{KEY}")
    assert r.status_code == 200 and r.content == b"NEW"
    assert r.headers["content-length"] == "3"
