"""The production path with a real nginx (Debian's) running deploy/nginx.conf: the app decides
access and counts its decisions, nginx sends the bytes (auth_request for /media/, its "yes" kept
5 s per URL; X-Accel-Redirect to an internal location for the feeds)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.web.browsing import app_in_thread
from tests.web.nginx import main_config, running_nginx, site_config
from worker.settings import Settings
from worker.storage import LocalStorage

KEY = "articles/2026/11/27/grid/audio.mp3"
NGINX_CSP = "default-src 'none'; frame-ancestors 'none'"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("nginx") is None and os.environ.get("REQUIRE_SERVICES") != "1",
        reason="nginx missing (apt-get install nginx-light; CI installs it)",
    ),
]


@pytest.fixture
def behind_nginx(web_settings: Settings, tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    app_port, port = free_port(), free_port()
    settings = web_settings.model_copy(update={"media_accel_prefix": "/_media/"})
    workdir = tmp_path / "nginx"
    workdir.mkdir()
    config = main_config(
        workdir, site_config(port, app_port, settings.data_dir, workdir / "media-cache")
    )
    with app_in_thread(settings, app_port), running_nginx(workdir, config, port):
        yield f"http://127.0.0.1:{port}", settings


def media_requests(base: str) -> float:
    """The app's own count of /media answers (its Prometheus counter, through nginx)."""
    text = httpx.get(f"{base}/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("digestcast_http_requests_total{") and 'endpoint="media"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_nginx_sends_what_the_app_allows(
    behind_nginx: tuple[str, Settings], storage: LocalStorage, mp3_bytes: bytes
) -> None:
    base, settings = behind_nginx
    storage.write_bytes(KEY, mp3_bytes)
    (settings.data_dir / "secret.txt").write_text("not for the web")
    size = len(mp3_bytes)
    with httpx.Client(base_url=base) as client:
        before = media_requests(base)
        whole = client.get(f"/media/{KEY}")
        assert whole.status_code == 200 and whole.content == mp3_bytes
        assert whole.headers["content-type"] == "audio/mpeg"
        assert "x-accel-redirect" not in whole.headers  # nginx consumed it
        assert whole.headers["x-content-type-options"] == "nosniff"
        # nginx's internal location sent it (its CSP, not the app's)
        assert whole.headers["content-security-policy"] == NGINX_CSP

        part = client.get(f"/media/{KEY}", headers={"Range": "bytes=100-1123"})
        assert part.status_code == 206 and part.content == mp3_bytes[100:1124]
        assert part.headers["content-range"] == f"bytes 100-1123/{size}"
        tail = client.get(f"/media/{KEY}", headers={"Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.content == mp3_bytes[-10:]
        assert client.get(f"/media/{KEY}", headers={"Range": f"bytes={size}-"}).status_code == 416
        head = client.head(f"/media/{KEY}")
        assert head.status_code == 200 and head.headers["content-length"] == str(size)
        again = client.get(f"/media/{KEY}", headers={"If-None-Match": whole.headers["etag"]})
        assert again.status_code == 304

        # the app still decides: nothing outside the served prefixes, nothing missing
        assert client.get("/media/secret.txt").status_code == 404
        assert client.get("/media/articles/missing.mp3").status_code == 404
        assert client.get("/media/articles/..%2f..%2fsecret.txt").status_code == 404
        # and the internal location cannot be asked for directly
        assert client.get("/_media/secret.txt").status_code == 404
        assert client.get(f"/_media/{KEY}").status_code == 404
        # the app decided on each URL (the refusals each time), and counted its decisions
        assert media_requests(base) - before >= 4


def test_a_players_ranges_cost_the_app_one_decision(
    behind_nginx: tuple[str, Settings], storage: LocalStorage, mp3_bytes: bytes
) -> None:
    base, _ = behind_nginx
    storage.write_bytes(KEY, mp3_bytes)
    with httpx.Client(base_url=base) as client:
        before = media_requests(base)
        for first in range(0, 40 * 100, 100):
            part = client.get(f"/media/{KEY}", headers={"Range": f"bytes={first}-{first + 99}"})
            assert part.status_code == 206 and part.content == mp3_bytes[first : first + 100]
        assert part.headers["cache-control"].startswith("public, max-age=")  # the app's
        # 40 ranges within the 5 s a "yes" is kept: one decision (two if a slow run crosses it)
        assert 1 <= media_requests(base) - before <= 2
        # a file removed after the app said yes is not served from nginx's memory of the yes
        storage.delete(KEY)
        assert client.get(f"/media/{KEY}", headers={"Range": "bytes=0-9"}).status_code == 404
        # refusals are never kept: each one is the app's, every time
        before = media_requests(base)
        for _ in range(3):
            assert client.get("/media/secret.txt").status_code == 404
        assert media_requests(base) - before == 3


def test_a_link_swapped_in_after_a_yes_is_not_followed(
    behind_nginx: tuple[str, Settings], storage: LocalStorage, mp3_bytes: bytes, tmp_path: Path
) -> None:
    """nginx checks links itself (disable_symlinks, from DATA_DIR down): the app's kept "yes"
    was for the file it opened, not for whatever the path names a moment later."""
    base, settings = behind_nginx
    storage.write_bytes(KEY, mp3_bytes)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "audio.mp3").write_bytes(b"not for the web " * 8)
    target = settings.data_dir / KEY
    with httpx.Client(base_url=base) as client:
        ranged = {"Range": "bytes=0-15"}
        assert client.get(f"/media/{KEY}", headers=ranged).content == mp3_bytes[:16]
        # the file itself replaced by a link out of DATA_DIR while the "yes" is kept
        target.unlink()
        target.symlink_to(outside / "audio.mp3")
        refused = client.get(f"/media/{KEY}", headers=ranged)
        assert refused.status_code == 404 and b"not for the web" not in refused.content
        # a folder below DATA_DIR replaced by one: refused too (only DATA_DIR is taken as is)
        target.unlink()
        folder = target.parent
        folder.rmdir()
        folder.symlink_to(outside, target_is_directory=True)
        refused = client.get(f"/media/{KEY}", headers=ranged)
        assert refused.status_code == 404 and b"not for the web" not in refused.content


def test_app_answers_with_the_internal_location(
    web_settings: Settings, storage: LocalStorage, mp3_bytes: bytes
) -> None:
    """The app's half alone: a header naming the file, no body; refusals stay the app's."""
    from fastapi.testclient import TestClient

    from web.app import create_app

    storage.write_bytes(KEY, mp3_bytes)
    settings = web_settings.model_copy(update={"media_accel_prefix": "/_media/"})
    with TestClient(create_app(settings)) as client:
        r = client.get(f"/media/{KEY}", headers={"Range": "bytes=0-9"})
        assert r.status_code == 200 and r.content == b""
        assert r.headers["x-accel-redirect"] == f"/_media/{KEY}"
        assert r.headers["content-type"] == "audio/mpeg"
        assert client.get("/media/articles/missing.mp3").status_code == 404
        assert "x-accel-redirect" not in client.get("/media/secret.txt").headers
    # off (the default): the app sends the bytes itself
    with TestClient(create_app(web_settings)) as client:
        r = client.get(f"/media/{KEY}", headers={"Range": "bytes=0-9"})
        assert r.status_code == 206 and r.content == mp3_bytes[:10]
        assert "x-accel-redirect" not in r.headers
