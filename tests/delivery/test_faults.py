"""Fault tests: real Redis (our own, restartable), real PostgreSQL, real Celery worker processes,
a real SMTP server process recording every message. Workers are SIGKILLed, Redis is restarted,
the relay answers 4xx/5xx or drops the connection after the data, the send is triggered twice:
every subscriber must get exactly one message (one extra per worker kill or dropped reply at
most: the message whose outcome could not be known), none missing. Database and Redis outages:
test_outages.py.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import make_settings, unavailable
from tests.delivery.cluster import Cluster
from tests.delivery.faults import (
    assert_idle,
    cluster_factory,
    drain,
    events,
    point_app_at,
    prepare,
    wait_until_sent,
)
from worker import db
from worker.edition import lifecycle
from worker.edition.tasks import send_task
from worker.models import DeliveryEvent, Suppression

pytestmark = pytest.mark.integration


@pytest.fixture
def make_cluster(tmp_path: Path, pg_url: str) -> Iterator[Any]:
    if shutil.which("redis-server") is None:  # we start our own, to restart it at will
        unavailable("redis-server binary not installed")
    clusters: list[Cluster] = []
    yield cluster_factory(tmp_path, pg_url, clusters)
    for cluster in clusters:
        cluster.close()
    point_app_at(make_settings(tmp_path))  # back to in-process for the next tests


def test_worker_killed_three_times_every_subscriber_once(make_cluster: Any) -> None:
    # two workers as on two hosts (their own --hostname, one Redis, one PostgreSQL); each of
    # them is SIGKILLed mid-send while the other carries on
    cluster, settings = make_cluster()
    emails = 5000
    digest_id = prepare(settings, emails)
    send_task.apply_async(args=(digest_id,))
    for at, name in ((600, "w0"), (1800, "w1"), (3000, "w0")):
        wait_until_sent(settings, digest_id, at)
        cluster.kill_worker(name)
        time.sleep(0.3)
        cluster.start_worker(name)
    result = drain(settings, digest_id)
    for name in ("w0", "w1"):  # both took part in the send
        assert f"{name}@" in cluster.worker_log(name)
        assert "Task digest.send_batch[" in cluster.worker_log(name), name
    assert result["counts"] == {"sent": emails}
    received = cluster.received()
    assert len(received) == emails, "a subscriber got nothing"
    extra = sum(n - 1 for n in received.values())
    assert extra <= 3, f"{extra} duplicate messages for 3 kills; events {events(settings)}"


def test_relay_refusals_4xx_retried_5xx_suppressed(make_cluster: Any) -> None:
    # 451 once to every 10th recipient (address ending in 0), 550 to those ending in 1
    cluster, settings = make_cluster(
        {"tempfail": r"0@example\.net$", "tempfail_times": 1, "reject": r"1@example\.net$"}
    )
    digest_id = prepare(settings, 1000)
    send_task.apply_async(args=(digest_id,))
    result = drain(settings, digest_id)
    assert result["counts"] == {"sent": 900, "failed": 100}
    received = cluster.received()
    assert len(received) == 900 and set(received.values()) == {1}
    assert not any(address.endswith("1@example.net") for address in received)
    assert sum(1 for a in received if a.endswith("0@example.net")) == 100  # all greylisted ones
    with db.session_scope(settings) as session:
        suppressed = set(session.scalars(select(Suppression.email)))
        deferred = session.scalar(select(func.count()).where(DeliveryEvent.kind == "deferred"))
    assert len(suppressed) == 100 and all(a.endswith("1@example.net") for a in suppressed)
    assert deferred == 100
    # 550s are final: a reconcile pass later sends nothing more
    lifecycle.reconcile(settings)
    time.sleep(0.5)
    assert sum(cluster.received().values()) == 900


def test_redis_restarted_mid_send_completes(make_cluster: Any) -> None:
    cluster, settings = make_cluster()
    digest_id = prepare(settings, 3000)
    send_task.apply_async(args=(digest_id,))
    wait_until_sent(settings, digest_id, 500)
    cluster.restart_redis()  # queued batch tasks are gone with it (no persistence)
    result = drain(settings, digest_id)
    assert result["counts"] == {"sent": 3000}
    received = cluster.received()
    assert len(received) == 3000 and set(received.values()) == {1}


def test_same_send_triggered_twice_at_once(make_cluster: Any) -> None:
    cluster, settings = make_cluster()
    digest_id = prepare(settings, 1000)
    send_task.apply_async(args=(digest_id,))  # two workers take one each, concurrently
    send_task.apply_async(args=(digest_id,))
    result = drain(settings, digest_id)
    assert result["counts"] == {"sent": 1000}
    received = cluster.received()
    assert len(received) == 1000 and set(received.values()) == {1}


def test_relay_drops_after_data_at_most_one_duplicate_each(make_cluster: Any) -> None:
    # every 500th recipient: the relay stores the message, then closes without replying
    # (RFC 1047): the sender cannot know, re-sends after the lease, one duplicate at most
    cluster, settings = make_cluster({"drop_after_data": r"[05]00@example\.net$"})
    emails = 3000
    digest_id = prepare(settings, emails)
    send_task.apply_async(args=(digest_id,))
    result = drain(settings, digest_id, timeout=90)
    assert result["counts"] == {"sent": emails}
    received = cluster.received()
    assert len(received) == emails, "a subscriber got nothing"
    dropped = {a for a in received if a.split("@")[0].endswith(("000", "500"))}
    assert len(dropped) == emails // 500 and all(received[a] <= 2 for a in dropped)
    assert all(n == 1 for a, n in received.items() if a not in dropped)
    assert events(settings).get("unknown_outcome", 0) == len(dropped)
    assert_idle(cluster)
