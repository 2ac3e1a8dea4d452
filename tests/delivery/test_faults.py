"""Fault tests: real Redis (our own, restartable), real PostgreSQL, real Celery worker processes,
a real SMTP server process recording every message. Workers are SIGKILLed, Redis is restarted,
the relay answers 4xx/5xx, the send is triggered twice: every subscriber must get exactly one
message (one extra per worker kill at most: the message in flight when it died), none missing.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import TEST_SECRET, make_settings, unavailable
from tests.delivery.cluster import Cluster
from tests.delivery.helpers import add_subscribers, stage_digest
from worker import db
from worker.celery_app import app, configure
from worker.edition import lifecycle
from worker.edition.progress import wait_for_drain
from worker.edition.tasks import send_task
from worker.models import Delivery, DeliveryEvent, DeliveryState, Suppression
from worker.settings import Settings

pytestmark = pytest.mark.integration

# short leases so a dead worker's rows come back within seconds (production: minutes)
FAST = {
    "send_batch_size": 100,
    "send_claim_chunk": 10,
    "send_lease_seconds": 3,
    "send_redispatch_seconds": 4,
    "send_retry_base_seconds": 0.5,
}


@pytest.fixture
def make_cluster(tmp_path: Path, pg_url: str) -> Iterator[Any]:
    if shutil.which("redis-server") is None:  # we start our own, to restart it at will
        unavailable("redis-server binary not installed")
    clusters: list[Cluster] = []

    def start(
        rules: dict[str, Any] | None = None, workers: int = 2, **overrides: Any
    ) -> tuple[Cluster, Settings]:
        workdir = tmp_path / f"cluster{len(clusters)}"
        workdir.mkdir()
        fast = {**FAST, **overrides}
        env = {
            "DIGESTCAST_DATABASE_URL": pg_url,
            "DIGESTCAST_DATA_DIR": str(tmp_path / "data"),
            "DIGESTCAST_SECRET_KEY": TEST_SECRET,
            "DIGESTCAST_PUBLIC_BASE_URL": "https://daily.example.org",
            **{f"DIGESTCAST_{k.upper()}": str(v) for k, v in fast.items()},
        }
        cluster = Cluster(workdir, env, rules or {})
        clusters.append(cluster)
        cluster.start_redis()
        cluster.start_smtp()
        settings = make_settings(
            tmp_path,
            database_url=pg_url,
            broker_url=cluster.broker_url,
            smtp_url=cluster.smtp_url,
            **fast,
        )
        db.upgrade(settings)
        _point_app_at(settings)  # this process dispatches through the cluster's Redis
        for i in range(workers):
            cluster.start_worker(f"w{i}")
        return cluster, settings

    yield start
    for cluster in clusters:
        cluster.close()
    _point_app_at(make_settings(tmp_path))  # back to in-process for the next tests


def _point_app_at(settings: Settings) -> None:
    """configure() and drop the app's cached broker pool and result backend, which otherwise
    keep talking to the broker of the first configuration (memory://, or a stopped Redis)."""
    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None
    app._backend_cache = None
    app._local.__dict__.pop("backend", None)
    configure(settings)
    # results are read from the ledger, never from the backend: an AsyncResult bound to a
    # Redis that a test stopped retries for minutes when it is garbage-collected
    app.conf.result_backend = "cache+memory://"


def _prepare(settings: Settings, subscribers: int) -> int:
    with db.session_scope(settings) as session:
        digest_id = stage_digest(session, settings, kb=8)
        add_subscribers(session, subscribers)
    return digest_id


def _sent(settings: Settings, digest_id: int) -> int:
    with db.session_scope(settings) as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    Delivery.digest_id == digest_id, Delivery.state == DeliveryState.sent
                )
            )
            or 0
        )


def _wait_until_sent(settings: Settings, digest_id: int, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _sent(settings, digest_id) < count:
        assert time.monotonic() < deadline, f"fewer than {count} sent after {timeout} s"
        time.sleep(0.05)


def _drain(settings: Settings, digest_id: int) -> dict[str, Any]:
    result = wait_for_drain(settings, digest_id, timeout=120, poll_seconds=0.2, reconcile_every=1.0)
    assert result["drained"], result
    return result


def test_worker_killed_three_times_every_subscriber_once(make_cluster: Any) -> None:
    cluster, settings = make_cluster()
    emails = 5000
    digest_id = _prepare(settings, emails)
    send_task.apply_async(args=(digest_id,))
    for at in (600, 1800, 3000):
        _wait_until_sent(settings, digest_id, at)
        cluster.kill_worker("w0")
        time.sleep(0.3)
        cluster.start_worker("w0")
    result = _drain(settings, digest_id)
    assert result["counts"] == {"sent": emails}
    received = cluster.received()
    assert len(received) == emails, "a subscriber got nothing"
    extra = sum(n - 1 for n in received.values())
    assert extra <= 3, f"{extra} duplicate messages for 3 kills; events {_events(settings)}"


def test_relay_refusals_4xx_retried_5xx_suppressed(make_cluster: Any) -> None:
    # 451 once to every 10th recipient (address ending in 0), 550 to those ending in 1
    cluster, settings = make_cluster(
        {"tempfail": r"0@example\.net$", "tempfail_times": 1, "reject": r"1@example\.net$"}
    )
    digest_id = _prepare(settings, 1000)
    send_task.apply_async(args=(digest_id,))
    result = _drain(settings, digest_id)
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
    digest_id = _prepare(settings, 3000)
    send_task.apply_async(args=(digest_id,))
    _wait_until_sent(settings, digest_id, 500)
    cluster.restart_redis()  # queued batch tasks are gone with it (no persistence)
    result = _drain(settings, digest_id)
    assert result["counts"] == {"sent": 3000}
    received = cluster.received()
    assert len(received) == 3000 and set(received.values()) == {1}


def test_same_send_triggered_twice_at_once(make_cluster: Any) -> None:
    cluster, settings = make_cluster()
    digest_id = _prepare(settings, 1000)
    send_task.apply_async(args=(digest_id,))  # two workers take one each, concurrently
    send_task.apply_async(args=(digest_id,))
    result = _drain(settings, digest_id)
    assert result["counts"] == {"sent": 1000}
    received = cluster.received()
    assert len(received) == 1000 and set(received.values()) == {1}


def _events(settings: Settings) -> dict[str, int]:
    with db.session_scope(settings) as session:
        rows = session.execute(
            select(DeliveryEvent.kind, func.count()).group_by(DeliveryEvent.kind)
        )
        return {kind: int(n) for kind, n in rows}
