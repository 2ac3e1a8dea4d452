"""scheduler/beat.py: installing redbeat on an app, and the catch-up a starting beat queues.

No Redis: configure_beat only writes configuration, and the catch-up is sent through kombu's
in-memory transport (the beat processes themselves run in test_two_beats.py)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from celery import Celery
from celery.schedules import schedule as every

from scheduler import beat
from scheduler.schedule import beat_schedule
from tests.conftest import make_settings


def test_embedded_mode_has_no_beat(tmp_path: Path) -> None:
    with pytest.raises(beat.BeatConfigError, match="schedule `digestcast run` with cron"):
        beat.configure_beat(Celery("t"), make_settings(tmp_path, broker_url=None))


def test_a_broker_that_is_not_redis_is_refused(tmp_path: Path) -> None:
    s = make_settings(tmp_path, broker_url="amqp://guest@127.0.0.1//")
    with pytest.raises(beat.BeatConfigError, match="keeps its schedule and lock in Redis"):
        beat.configure_beat(Celery("t"), s)


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://cache.example:6380/1"])
def test_redis_gets_the_schedule_scheduler_and_lock(tmp_path: Path, url: str) -> None:
    s = make_settings(
        tmp_path, broker_url=url, beat_lock_timeout_seconds=77, beat_max_interval_seconds=5.0
    )
    app = Celery("t")
    assert beat.configure_beat(app, s) is app
    assert app.conf.beat_scheduler == "scheduler.beat:DSTSafeRedBeatScheduler"
    assert app.conf.redbeat_redis_url == url
    assert app.conf.redbeat_key_prefix == beat.REDBEAT_PREFIX
    assert app.conf.redbeat_lock_timeout == 77
    assert app.conf.beat_max_loop_interval == 5.0
    assert app.conf.redbeat_redis_options == {}  # not the broker's transport options
    assert set(app.conf.beat_schedule) == set(beat_schedule(s))


def test_the_scheduler_uses_the_dst_safe_entry() -> None:
    assert beat.DSTSafeRedBeatScheduler.Entry is beat.DSTSafeEntry


# ---------------------------------------------------------------- due_at
def entry(app: Celery, run_every: timedelta, last_run: datetime | None) -> beat.DSTSafeEntry:
    app.conf.update(redbeat_redis_url="redis://127.0.0.1:1/0", redbeat_redis_options={})
    e = beat.DSTSafeEntry(
        name="tick", task="t", schedule=every(run_every, app=app), app=app
    )  # nothing connects: redbeat reads its configuration only
    e.last_run_at = last_run
    return e


def test_due_at_is_in_utc_one_interval_after_the_last_run() -> None:
    app = Celery("t")
    app.conf.timezone = "Europe/Kyiv"
    ran = datetime.now(UTC) - timedelta(seconds=10)
    due = entry(app, timedelta(hours=1), ran).due_at
    assert due is not None and due.utcoffset() == timedelta(0)
    assert abs(due - (ran + timedelta(hours=1))) < timedelta(seconds=5)


def test_due_at_is_now_when_never_run_or_overdue() -> None:
    app = Celery("t")
    before = datetime.now(UTC)
    never = entry(app, timedelta(hours=1), None).due_at
    overdue = entry(app, timedelta(minutes=1), before - timedelta(hours=2)).due_at
    after = datetime.now(UTC)
    for due in (never, overdue):
        assert due is not None and before <= due <= after


# ---------------------------------------------------------------- catch-up on start
def test_a_starting_beat_queues_one_catch_up_check() -> None:
    app = Celery("catch-up-test", broker="memory://")
    # the memory transport is per process: a queue of its own, whatever other tests sent
    app.conf.task_default_queue = f"beat-test-{uuid.uuid4().hex}"
    beat._catch_up_on_start(sender=SimpleNamespace(scheduler=SimpleNamespace(app=app)))
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue(app.conf.task_default_queue)
        try:
            message = queue.get(timeout=1)
            assert message.headers["task"] == "schedule.catch_up"
            assert message.headers["expires"]  # a stale check is dropped, not run late
            message.ack()
            assert len(queue) == 0
        finally:
            queue.close()


def test_a_sender_without_a_scheduler_app_is_ignored() -> None:
    beat._catch_up_on_start(sender=None)
    beat._catch_up_on_start(sender=SimpleNamespace(scheduler=None))


def test_a_failed_send_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    app = Celery("catch-up-test", broker="memory://")
    app.conf.task_serializer = "no-such-serializer"  # the send fails at once, no network
    with caplog.at_level(logging.ERROR, logger="scheduler.beat"):
        beat._catch_up_on_start(sender=SimpleNamespace(scheduler=SimpleNamespace(app=app)))
    assert "could not queue the catch-up check" in caplog.text
