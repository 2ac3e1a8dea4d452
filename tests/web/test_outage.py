"""The web side while PostgreSQL or Redis is down, against servers of the test's own (never
the shared ones): /readyz says not ready (503, naming which), pages answer 503 with
Retry-After instead of 500, and both recover by themselves once the server is back, without
a new app or process."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.conftest import make_settings, unavailable
from tests.delivery.smtp_server import free_port
from tests.pgserver import PgServer, own_postgres
from tests.web.conftest import ADMIN_TOKEN, add_digest, add_subscriber
from web.app import create_app
from worker import db
from worker.storage import LocalStorage
from worker.tokens import unsubscribe_token

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def pg_server() -> Iterator[PgServer]:
    with own_postgres() as server:
        yield server
    db.get_engine.cache_clear()


class OwnRedis:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)
        client.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        unavailable("redis-server binary not installed")
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _pages(client: TestClient, token: str) -> dict[str, int]:
    """What every kind of page answers: reader pages reading the database, the form post,
    the ops API."""
    codes = {
        path: client.get(path).status_code
        for path in ("/", "/subscribe", "/digests/", "/digests/2026-11-27", f"/u/{token}")
    }
    form = client.get("/subscribe")
    found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if found is not None:
        codes["POST /subscribe"] = client.post(
            "/subscribe", data={"email": "new@example.org", "csrf_token": found.group(1)}
        ).status_code
    codes["/admin/sources"] = client.get(
        "/admin/sources", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ).status_code
    return codes


def test_pages_answer_503_while_a_dependency_is_down_and_recover(
    tmp_path: Path, pg_server: PgServer, own_redis: OwnRedis
) -> None:
    settings = make_settings(
        tmp_path,
        database_url=pg_server.create_database(f"dc_{uuid.uuid4().hex[:12]}"),
        broker_url=f"redis://127.0.0.1:{own_redis.port}/0",
        admin_token=SecretStr(ADMIN_TOKEN),
    )
    db.upgrade(settings)
    with db.session_scope(settings) as session:
        add_digest(session, LocalStorage(settings.data_dir))
    token = unsubscribe_token(settings, add_subscriber(settings, "reader@example.org"), None)
    client = TestClient(create_app(settings), raise_server_exceptions=False)

    assert client.get("/readyz").status_code == 200
    up = _pages(client, token)
    assert set(up.values()) == {200}, up

    pg_server.stop()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("error")
    assert ready.json()["checks"]["broker"] == "ok"
    down = _pages(client, token)
    assert 500 not in down.values(), down
    # pages that read the database say "try again" (a digest's web copy too: whether that day
    # went out, so may be shown, is the database's to say); the bare form needs none
    needs_db = (
        "/digests/",
        "/digests/2026-11-27",
        f"/u/{token}",
        "POST /subscribe",
        "/admin/sources",
    )
    assert {down[k] for k in needs_db} == {503}, down
    assert down["/subscribe"] == 200
    page = client.get("/digests/")
    assert page.headers["retry-after"] and "try again" in page.text
    admin = client.get("/admin/sources", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert admin.json() == {"detail": "temporarily unavailable, try again shortly"}

    pg_server.start()
    assert client.get("/readyz").status_code == 200
    back = _pages(client, token)
    assert set(back.values()) == {200}, back

    own_redis.stop()
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["broker"].startswith("error")
    assert 500 not in _pages(client, token).values()
    own_redis.start()
    assert client.get("/readyz").status_code == 200
    assert set(_pages(client, token).values()) == {200}
