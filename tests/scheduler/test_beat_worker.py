"""`digestcast beat` and `digestcast worker` through a real Redis: beat's start queues a catch-up
check that the worker runs against the database, and the heartbeat entry reaches the worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from scheduler.daily import HEARTBEAT_KEY
from tests.conftest import REPO, make_settings
from tests.scheduler.conftest import stop, wait_for
from worker import db
from worker.models import Digest, DigestState

pytestmark = pytest.mark.integration


def test_beat_start_catches_up_through_the_worker(
    beat_redis_url: str, tmp_path: Path, beats: list[subprocess.Popen[bytes]]
) -> None:
    settings = make_settings(tmp_path)
    db.upgrade(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTCAST_")}
    env.update(
        PYTHONPATH=str(REPO),
        DIGESTCAST_CONFIG=str(tmp_path / "absent.toml"),
        DIGESTCAST_BROKER_URL=beat_redis_url,
        DIGESTCAST_DATABASE_URL=settings.database_url,
        DIGESTCAST_DATA_DIR=str(tmp_path / "data"),
        DIGESTCAST_OUTBOX_DIR=str(tmp_path / "outbox"),
        DIGESTCAST_TTS_ENGINE="espeak",
        DIGESTCAST_BEAT_HEARTBEAT_SECONDS="1",
        DIGESTCAST_BEAT_MAX_INTERVAL_SECONDS="1",
    )
    for name, args in (("worker", ["worker", "--concurrency", "1"]), ("beat", ["beat"])):
        log = (tmp_path / f"{name}.log").open("wb")
        beats.append(
            subprocess.Popen(
                [sys.executable, "-m", "worker", *args],
                cwd=tmp_path,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    client = redis.Redis.from_url(beat_redis_url)

    def digest_rows() -> list[Digest]:
        with db.session_scope(settings) as session:
            return list(session.scalars(select(Digest)))

    # Whatever the wall clock says, the catch-up check finds the latest send time without a
    # sent digest (no feeds were collected): inside the grace window it builds an empty day,
    # outside it records the day missed; either way one row (`skipped` or `missed`) with its reason.
    wait_for(lambda: bool(digest_rows()), timeout=45)
    wait_for(lambda: client.get(HEARTBEAT_KEY) is not None, timeout=30)
    for proc in beats:
        assert proc.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
    rows = digest_rows()
    assert len(rows) == 1
    assert rows[0].state in (DigestState.skipped, DigestState.missed) and rows[0].skip_reason
    for proc in reversed(beats):
        stop(proc)
    assert "Acquired lock" in (tmp_path / "beat.log").read_text(errors="replace")
    client.close()
