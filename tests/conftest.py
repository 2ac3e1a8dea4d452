"""Shared fixtures: settings in a temporary directory, SQLite and PostgreSQL databases, Redis.

Services: with REQUIRE_SERVICES=1 (CI) a missing Redis or PostgreSQL fails the test; otherwise
it skips with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from worker import db
from worker.celery_app import configure
from worker.settings import Settings

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
PG_ADMIN_URL = os.environ.get("TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
# 32+ bytes: production settings (an https PUBLIC_BASE_URL) refuse anything shorter
TEST_SECRET = "test-secret-0123456789abcdefghijklmnopqrstuv"


def unavailable(reason: str) -> NoReturn:
    """Skip for a missing service or tool; fail instead in CI (REQUIRE_SERVICES=1), which
    installs and starts everything the tests need."""
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def require_service(name: str, host: str, port: int) -> None:
    try:
        with socket.create_connection((host, port), timeout=1):
            return
    except OSError as exc:
        unavailable(f"{name} not reachable at {host}:{port}: {exc}")


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'digestcast.db'}",
        "data_dir": tmp_path / "data",
        "outbox_dir": tmp_path / "outbox",
        "broker_url": None,
        "smtp_url": None,
        "tts_engine": "espeak",
        "secret_key": TEST_SECRET,
        "public_base_url": "https://daily.example.org",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head once a session: tests start from a copy of it
    (an upgrade costs ~0.5 s and some 400 tests need one)."""
    root = tmp_path_factory.mktemp("migrated")
    s = make_settings(root)
    db.upgrade(s)
    db.get_engine(s.database_url).dispose()  # closed: no -wal file is left beside it
    return root / "digestcast.db"


@pytest.fixture
def settings(tmp_path: Path, migrated_sqlite: Path) -> Iterator[Settings]:
    """Embedded-mode settings on a migrated SQLite database in tmp_path."""
    shutil.copyfile(migrated_sqlite, tmp_path / "digestcast.db")
    s = make_settings(tmp_path)
    configure(s)
    yield s
    db.get_engine(s.database_url).dispose()


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    with db.session_scope(settings) as s:
        yield s


@contextmanager
def pg_database(template: str | None = None) -> Iterator[str]:
    """A PostgreSQL database of its own (a copy of `template` when given), dropped after."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"dc_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        db.get_engine.cache_clear()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    with pg_database() as url:
        yield url


@pytest.fixture(scope="session")
def migrated_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The name of a PostgreSQL database migrated to head once a session (a template)."""
    with pg_database() as url:
        s = make_settings(tmp_path_factory.mktemp("migrated-pg"), database_url=url)
        db.upgrade(s)
        db.get_engine(url).dispose()  # CREATE DATABASE ... TEMPLATE needs it unused
        yield url.rsplit("/", 1)[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings on a migrated database, once on SQLite and once on PostgreSQL."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            shutil.copyfile(request.getfixturevalue("migrated_sqlite"), tmp_path / "digestcast.db")
            url = f"sqlite:///{tmp_path / 'digestcast.db'}"
        else:
            url = stack.enter_context(pg_database(request.getfixturevalue("migrated_pg")))
        s = make_settings(tmp_path, database_url=url)
        configure(s)
        yield s
        db.get_engine(s.database_url).dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database number of its own, flushed before and after."""
    import redis

    parts = redis.connection.parse_url(REDIS_URL)
    require_service("Redis", str(parts.get("host", "127.0.0.1")), int(parts.get("port", 6379)))

    number = 1 + (uuid.uuid4().int % 14)
    url = f"{REDIS_URL}/{number}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


def free_port() -> int:
    """A loopback port free right now (for servers a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_server_for(handler: object) -> Iterator[int]:
    """A real aiosmtpd server on loopback calling `handler`; yields its port."""
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
