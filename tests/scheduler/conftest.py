"""Scheduler fixtures: the sample Kyiv day collected into a database, with its subscribers."""

from __future__ import annotations

import email
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
from sqlalchemy import func, select

from tests.conftest import EXAMPLES, make_settings
from worker import db
from worker.celery_app import configure
from worker.models import Delivery
from worker.settings import Settings

SAMPLE_DAY = date(2026, 11, 27)
KYIV = ZoneInfo("Europe/Kyiv")


def kyiv(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=KYIV)


def load_sample_day(settings: Settings) -> int:
    """Collect the bundled feeds and import the sample subscribers; returns the subscriber count."""
    from worker.delivery.subscriber_csv import import_csv
    from worker.pipeline import collect

    collect(settings)
    with db.session_scope(settings) as session, (EXAMPLES / "subscribers.csv").open() as f:
        import_csv(session, f)
    return sum(1 for line in (EXAMPLES / "subscribers.csv").read_text().splitlines()[1:] if line)


def outbox_recipients(settings: Settings) -> list[str]:
    new = Path(settings.outbox_dir) / "new"
    if not new.is_dir():
        return []
    return sorted(
        str(email.message_from_bytes(p.read_bytes())["To"]) for p in new.iterdir() if p.is_file()
    )


def ledger_rows(settings: Settings) -> list[tuple[int, int]]:
    with db.session_scope(settings) as session:
        rows = session.execute(
            select(Delivery.subscriber_id, func.count(Delivery.id)).group_by(Delivery.subscriber_id)
        ).all()
    return [(int(a), int(b)) for a, b in rows]


def _settings(root: Path) -> Settings:
    # no spoken briefing: it is the audio stage's (tested there) and the slowest part of a build
    return make_settings(root, sources=EXAMPLES / "sources.toml", briefing_stories=0)


@pytest.fixture(scope="session")
def sample_day_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample day collected once; each test gets a copy of the database and files."""
    root = tmp_path_factory.mktemp("sample-day")
    s = _settings(root)
    db.upgrade(s)
    configure(s)
    load_sample_day(s)
    db.get_engine(s.database_url).dispose()
    return root


@pytest.fixture
def day_settings(tmp_path: Path, sample_day_template: Path) -> Iterator[Settings]:
    """Embedded SQLite settings with the sample day collected and subscribers imported."""
    shutil.copy(sample_day_template / "digestcast.db", tmp_path / "digestcast.db")
    shutil.copytree(sample_day_template / "data", tmp_path / "data")
    s = _settings(tmp_path)
    configure(s)
    yield s
    db.get_engine(s.database_url).dispose()


# ---------------------------------------------------------------- beat processes
def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def beat_redis_url(redis_url: str) -> Iterator[str]:
    """Redis database 15, which the shared `redis_url` fixture never picks (it uses 1-14).

    Suites running side by side on one machine flush the random databases they pick; a flush
    in the middle of this test deletes the redbeat lock and makes the beats look broken.
    """
    url = redis_url.rsplit("/", 1)[0] + "/15"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def beats() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        stop(proc)
