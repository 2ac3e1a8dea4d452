"""Work queued by task name (dispatch.py) reaches Redis as the tasks the workers register."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import make_settings
from tests.delivery.faults import point_app_at
from worker.celery_app import app
from worker.delivery import dispatch
from worker.queues import BULK_QUEUE, TRANSACTIONAL_QUEUE

pytestmark = pytest.mark.integration


def _queued(client: redis.Redis, queue: str) -> list[tuple[str, list[Any], dict[str, Any]]]:
    found = []
    for raw in reversed(client.lrange(queue, 0, -1)):  # LPUSHed: oldest last
        message = json.loads(raw)
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        found.append((message["headers"]["task"], args, kwargs))
    return found


def test_each_name_is_a_registered_task_on_its_queue(tmp_path: Path, redis_url: str) -> None:
    import worker.delivery.tasks
    import worker.edition.tasks  # noqa: F401  (what a worker imports: the names resolve)

    assert {dispatch.SEND_BATCH, dispatch.TRANSACTIONAL, dispatch.FAN_OUT} <= set(app.tasks)
    try:
        point_app_at(make_settings(tmp_path, broker_url=redis_url))
        dispatch.queue_batch(7, [1, 2, 3])
        dispatch.queue_fan_out(7)
        dispatch.queue_transactional("a@example.org", "Hi", "text", None, "ukrainian")
    finally:
        point_app_at(make_settings(tmp_path))
    client = redis.Redis.from_url(redis_url)
    try:
        assert _queued(client, BULK_QUEUE) == [
            ("digest.send_batch", [7, [1, 2, 3]], {}),
            ("digest.fan_out", [7], {}),
        ]
        assert _queued(client, TRANSACTIONAL_QUEUE) == [
            (
                "mail.transactional",
                ["a@example.org", "Hi", "text", None],
                {"newsletter": "ukrainian"},
            )
        ]
    finally:
        client.close()
