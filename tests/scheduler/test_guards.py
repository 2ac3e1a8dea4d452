"""No task is published with an ETA beyond the broker's visibility timeout."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import redis
from celery.signals import before_task_publish

from scheduler import guards
from worker.celery_app import app

NOW = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)


def test_short_etas_pass_unchanged() -> None:
    eta = (NOW + timedelta(minutes=15)).isoformat()
    assert guards.clamp_eta(eta, NOW, 3600) == eta
    assert guards.clamp_eta(None, NOW, 3600) is None


def test_long_etas_are_pulled_under_the_visibility_timeout() -> None:
    eta = (NOW + timedelta(hours=6)).isoformat()
    clamped = guards.clamp_eta(eta, NOW, 3600)
    assert clamped is not None
    assert datetime.fromisoformat(clamped) == NOW + timedelta(seconds=3540)
    naive = (NOW + timedelta(hours=2)).replace(tzinfo=None).isoformat()
    assert guards.clamp_eta(naive, NOW, 3600) == (NOW + timedelta(seconds=3540)).isoformat()


def test_the_guard_is_installed_with_the_task_modules() -> None:
    import scheduler.tasks  # noqa: F401  (importing the task modules installs it)

    keys = [key for key, _ref in before_task_publish.receivers]
    assert any(key[0] == "digestcast-eta-guard" for key in keys)


@pytest.mark.integration
def test_a_countdown_of_hours_reaches_redis_within_the_limit(redis_url: str) -> None:
    """A real publish through Redis: the message in the queue carries the clamped ETA."""
    import scheduler.tasks  # noqa: F401

    saved = dict(app.conf)
    app.conf.update(broker_url=redis_url, task_always_eager=False)
    try:
        with app.connection_for_write() as conn:
            app.send_task("digest.send_batch", args=[1, [2]], countdown=3 * 3600, connection=conn)
    finally:
        app.conf.update(
            broker_url=saved["broker_url"], task_always_eager=saved["task_always_eager"]
        )
    client = redis.Redis.from_url(redis_url)
    messages = [json.loads(m) for m in client.lrange("celery", 0, -1)]
    client.close()
    assert len(messages) == 1
    eta = datetime.fromisoformat(messages[0]["headers"]["eta"])
    assert eta - datetime.now(UTC) < timedelta(seconds=3600)
