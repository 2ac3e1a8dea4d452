"""Engine and session handling, and migrations (Alembic) run from code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from worker.settings import Settings

if TYPE_CHECKING:  # Alembic costs ~0.4 s to import: only `db upgrade` and the tests need it
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets the web process read while a worker writes; busy_timeout waits instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def ensure_sqlite_folder(url: str) -> None:
    """SQLite creates the file but not its folder (`var/` on a fresh clone)."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


# PostgreSQL: every wait on the server is bounded, so a database that goes away (restart,
# failover, a network that drops packets) ends the task with an error instead of hanging it:
# connecting gives up after 10 s, a silent peer is found dead by TCP keepalives within ~25 s,
# and data the server stops acknowledging fails the connection after 30 s (tcp_user_timeout).
# A server that closes the connection (restart, pg_terminate_backend) fails it at once.
PG_CONNECT_ARGS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


@lru_cache(maxsize=16)
def get_engine(url: str) -> Engine:
    ensure_sqlite_folder(url)
    postgresql = url.startswith(("postgresql", "postgres:"))
    engine = create_engine(
        url, pool_pre_ping=True, future=True, connect_args=PG_CONNECT_ARGS if postgresql else {}
    )
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def session_factory(settings: Settings) -> sessionmaker[Session]:
    return sessionmaker(get_engine(settings.database_url), expire_on_commit=False)


@contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """A session committed on success and rolled back on error."""
    session = session_factory(settings)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Apply migrations up to `revision` (what `digestcast db upgrade` runs)."""
    from alembic import command

    ensure_sqlite_folder(settings.database_url)
    command.upgrade(alembic_config(settings.database_url), revision)
