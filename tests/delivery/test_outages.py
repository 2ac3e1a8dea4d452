"""Outages the send must survive, with real processes (tests/delivery/cluster.py): a
PostgreSQL server of the test's own (restarted, stopped for 30 s, one worker's backend
terminated), the cluster's own Redis stopped for 30 s. Each: every subscriber gets the edition,
none is missing, duplicates stay within the stated bound (the sent marks that were in flight:
worker/delivery/outcomes.py), the workers are alive and idle afterwards, and every wait is
bounded (a hung worker fails the drain's timeout instead of stalling the suite).
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings, unavailable
from tests.delivery.cluster import Cluster
from tests.delivery.faults import (
    assert_idle,
    cluster_factory,
    drain,
    point_app_at,
    prepare,
    wait_until_sent,
)
from tests.pgserver import PgServer, own_postgres
from worker import db
from worker.delivery.outcomes import SentRecorder
from worker.edition.tasks import send_task
from worker.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

EMAILS = 3000
# per worker and lost connection: the marks in flight, plus the one that could not be sent
BOUND_PER_LOSS = SentRecorder.MAX_PENDING + 1


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PgServer]:
    if shutil.which("redis-server") is None:
        unavailable("redis-server binary not installed")
    with own_postgres() as server:
        yield server


@pytest.fixture
def make_cluster(tmp_path: Path, pg_server: PgServer) -> Iterator[Any]:
    if not pg_server.running():
        pg_server.start()
    url = pg_server.create_database(f"dc_{uuid.uuid4().hex[:12]}")
    clusters: list[Cluster] = []
    yield cluster_factory(tmp_path, url, clusters)
    for cluster in clusters:
        cluster.close()
    point_app_at(make_settings(tmp_path))
    db.get_engine.cache_clear()


def _check_every_subscriber(cluster: Cluster, result: dict[str, Any], bound: int) -> int:
    assert result["counts"] == {"sent": EMAILS}
    received = cluster.received()
    assert len(received) == EMAILS, "a subscriber got nothing"
    extra = sum(n - 1 for n in received.values())
    assert extra <= bound, f"{extra} duplicates, bound {bound}"
    return extra


def _sending(make_cluster: Any) -> tuple[Cluster, Settings, int]:
    """A cluster sending EMAILS messages, 500 of them sent already."""
    cluster, settings = make_cluster()
    digest_id = prepare(settings, EMAILS)
    send_task.apply_async(args=(digest_id,))
    wait_until_sent(settings, digest_id, 500)
    return cluster, settings, digest_id


def _outage_lines(cluster: Cluster, what: str) -> list[int]:
    return [cluster.worker_log(name).count(f"{what} unavailable (") for name in cluster.workers]


def test_postgres_restarted_mid_send(make_cluster: Any, pg_server: PgServer) -> None:
    cluster, settings, digest_id = _sending(make_cluster)
    pg_server.restart()  # both workers' connections are ended mid-batch
    result = drain(settings, digest_id, timeout=60)
    _check_every_subscriber(cluster, result, 2 * BOUND_PER_LOSS)
    assert sum(_outage_lines(cluster, "database")) >= 1
    assert_idle(cluster)


@pytest.mark.slow
def test_postgres_down_30_seconds_mid_send(make_cluster: Any, pg_server: PgServer) -> None:
    cluster, settings, digest_id = _sending(make_cluster)
    pg_server.stop()
    time.sleep(5)
    assert_idle(cluster)  # backing off, not spinning, while the database is away
    time.sleep(23)
    pg_server.start()
    result = drain(settings, digest_id, timeout=60)
    _check_every_subscriber(cluster, result, 2 * BOUND_PER_LOSS)
    lines = _outage_lines(cluster, "database")
    assert sum(lines) >= 1 and max(lines) <= 2, f"one line per outage, got {lines}"
    assert_idle(cluster)


def test_one_workers_backend_terminated(make_cluster: Any, pg_server: PgServer) -> None:
    cluster, settings, digest_id = _sending(make_cluster)
    # the connection a worker records its sent marks on, in the middle of its batch
    assert len(pg_server.terminate("UPDATE deliveries SET state = 'sent'")) == 1
    result = drain(settings, digest_id, timeout=60)
    _check_every_subscriber(cluster, result, BOUND_PER_LOSS)
    assert_idle(cluster)


@pytest.mark.slow
def test_redis_down_30_seconds_mid_send(make_cluster: Any) -> None:
    cluster, settings, digest_id = _sending(make_cluster)
    cluster.stop_redis()  # the queued batch tasks are lost with it (no persistence)
    time.sleep(5)
    assert_idle(cluster)
    time.sleep(25)
    cluster.start_redis()
    result = drain(settings, digest_id, timeout=90)
    received = cluster.received()
    assert result["counts"] == {"sent": EMAILS}
    assert len(received) == EMAILS and set(received.values()) == {1}
    assert_idle(cluster)
