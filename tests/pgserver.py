"""A PostgreSQL server of the test's own (initdb into a temporary directory, its own port), so
the fault tests can restart, stop and start it without touching the shared one on 5432.
Runs as the `postgres` user when the tests run as root (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.conftest import unavailable
from tests.delivery.smtp_server import free_port


def pg_bin() -> Path | None:
    """The newest installed server's bin directory (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


class PgServer:
    def __init__(self) -> None:
        bindir = pg_bin()
        assert bindir is not None, "PostgreSQL server binaries not installed"
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="dc-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
            "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        command = [str(self.bindir / tool), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)

    def _ctl(self, action: str, *extra: str) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
            " -c fsync=off -c full_page_writes=off -c max_connections=60"
        )
        self._run(
            "pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-o", options,
            "-w", "-t", "60", *extra,
        )  # fmt: skip

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def restart(self) -> None:
        """What `pg_ctlcluster ... restart -m fast` does: open sessions are ended."""
        self._ctl("restart", "-m", "fast")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def create_database(self, name: str) -> str:
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url(name)

    def terminate(self, query_prefix: str, limit: int = 1) -> list[int]:
        """pg_terminate_backend on (at most `limit` of) the client sessions whose current or
        last statement starts with `query_prefix`; returns their pids."""
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            pids = (
                conn.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                        " AND backend_type = 'client backend' AND query LIKE :prefix"
                    ),
                    {"prefix": query_prefix.replace("%", r"\%") + "%"},
                )
                .scalars()
                .all()[:limit]
            )
            for pid in pids:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        engine.dispose()
        return [int(p) for p in pids]

    def close(self) -> None:
        if self.running():
            with contextlib.suppress(subprocess.SubprocessError):
                self._ctl("stop", "-m", "immediate")
        deadline = time.monotonic() + 5
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.1)
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def own_postgres() -> Iterator[PgServer]:
    """A started PgServer, removed afterwards (unavailable without the server binaries)."""
    if pg_bin() is None:
        unavailable("PostgreSQL server binaries not installed")
    server = PgServer()
    server.start()
    try:
        yield server
    finally:
        server.close()
