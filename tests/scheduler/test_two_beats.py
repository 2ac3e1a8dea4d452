"""Two beat processes with celery-redbeat against a real Redis: only the lock holder fires.

Each beat runs the real schedule plus a 1-second heartbeat entry. Beat publishes to the broker
and no worker consumes, so the queue itself records every fire with the publishing process in
the message's `origin` header.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis

from tests.conftest import REPO
from tests.scheduler.conftest import stop, wait_for

pytestmark = pytest.mark.integration

LOCK_KEY = "digestcast:redbeat::lock"


def start_beat(redis_url: str, tmp_path: Path, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DIGESTCAST_CONFIG": str(tmp_path / "absent.toml"),
        "DIGESTCAST_BROKER_URL": redis_url,
        "DIGESTCAST_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}",
        "DIGESTCAST_BEAT_HEARTBEAT_SECONDS": "1",
        "DIGESTCAST_BEAT_MAX_INTERVAL_SECONDS": "1",
        "DIGESTCAST_BEAT_LOCK_TIMEOUT_SECONDS": "10",
    }
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "scheduler.beat_app", "beat", "--loglevel=INFO"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def fires(client: redis.Redis, task: str) -> Counter[str]:
    """Messages of `task` waiting in the default queue, counted per publishing process."""
    origins: Counter[str] = Counter()
    for raw in client.lrange("celery", 0, -1):
        headers = json.loads(raw)["headers"]
        if headers["task"] == task:
            origins[headers["origin"]] += 1
    return origins


@pytest.mark.slow
def test_two_beats_fire_each_entry_once_and_the_standby_takes_over(
    beat_redis_url: str, tmp_path: Path, beats: list[subprocess.Popen[bytes]]
) -> None:
    redis_url = beat_redis_url
    client = redis.Redis.from_url(redis_url)
    first = start_beat(redis_url, tmp_path, "first")
    beats.append(first)
    wait_for(lambda: sum(fires(client, "schedule.heartbeat").values()) >= 1)
    second = start_beat(redis_url, tmp_path, "second")
    beats.append(second)

    started = time.monotonic()
    wait_for(lambda: sum(fires(client, "schedule.heartbeat").values()) >= 8)
    elapsed = time.monotonic() - started
    both_running = fires(client, "schedule.heartbeat")
    assert second.poll() is None and first.poll() is None, "a beat died"
    # one publisher only: the lock holder; the other waits on the redbeat lock
    assert len(both_running) == 1, both_running
    holder = next(iter(both_running))
    # once per period: no more than one heartbeat per second of the run (two beats: twice that)
    assert sum(both_running.values()) <= elapsed + 3
    assert client.exists(LOCK_KEY)

    # the holder stops (releasing its lock): the standby takes over, still one publisher at a time
    stop(first)
    before = sum(both_running.values())
    wait_for(lambda: sum(fires(client, "schedule.heartbeat").values()) >= before + 3)
    after = fires(client, "schedule.heartbeat")
    assert set(after) == {holder, *(set(after) - {holder})} and len(after) == 2, after
    assert after[holder] == both_running[holder]  # the stopped beat fired nothing more
    # each beat asked for a catch-up check when it started (idempotent in the worker)
    assert sum(fires(client, "schedule.catch_up").values()) >= 1
    log = (tmp_path / "second.log").read_text(errors="replace")
    assert "Acquired lock" in log
    client.close()
