"""What the fault tests share: a cluster factory (tests/delivery/cluster.py) pointed at a
given PostgreSQL database, and the checks every fault ends with (every subscriber got the
edition, duplicates within the fault's bound, workers idle afterwards)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tests.conftest import TEST_SECRET, make_settings
from tests.delivery.cluster import Cluster
from tests.delivery.helpers import add_subscribers, stage_digest
from worker import db
from worker.celery_app import app, configure
from worker.edition.progress import wait_for_drain
from worker.models import Delivery, DeliveryEvent, DeliveryState
from worker.settings import Settings

# short leases so a dead worker's rows come back within seconds (production: minutes)
FAST = {
    "send_batch_size": 100,
    "send_claim_chunk": 10,
    "send_lease_seconds": 3,
    "send_redispatch_seconds": 4,
    "send_retry_base_seconds": 0.5,
    "outage_backoff_max_seconds": 2,
}

Start = Callable[..., tuple[Cluster, Settings]]


def cluster_factory(
    tmp_path: Path, database_url: str, clusters: list[Cluster], **env: str
) -> Start:
    def start(
        rules: dict[str, Any] | None = None, workers: int = 2, **overrides: Any
    ) -> tuple[Cluster, Settings]:
        workdir = tmp_path / f"cluster{len(clusters)}"
        workdir.mkdir()
        fast = {**FAST, **overrides}
        cluster_env = {
            "DIGESTCAST_DATABASE_URL": database_url,
            "DIGESTCAST_DATA_DIR": str(tmp_path / "data"),
            "DIGESTCAST_SECRET_KEY": TEST_SECRET,
            "DIGESTCAST_PUBLIC_BASE_URL": "https://daily.example.org",
            **{f"DIGESTCAST_{k.upper()}": str(v) for k, v in fast.items()},
            **env,
        }
        cluster = Cluster(workdir, cluster_env, rules or {})
        clusters.append(cluster)
        cluster.start_redis()
        cluster.start_smtp()
        settings = make_settings(
            tmp_path,
            database_url=database_url,
            broker_url=cluster.broker_url,
            smtp_url=cluster.smtp_url,
            **fast,
        )
        db.upgrade(settings)
        point_app_at(settings)  # this process dispatches through the cluster's Redis
        for i in range(workers):
            cluster.start_worker(f"w{i}")
        return cluster, settings

    return start


def point_app_at(settings: Settings) -> None:
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


def prepare(settings: Settings, subscribers: int) -> int:
    with db.session_scope(settings) as session:
        digest_id = stage_digest(session, settings, kb=8)
        add_subscribers(session, subscribers)
    return digest_id


def sent(settings: Settings, digest_id: int) -> int:
    with db.session_scope(settings) as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    Delivery.digest_id == digest_id, Delivery.state == DeliveryState.sent
                )
            )
            or 0
        )


def wait_until_sent(settings: Settings, digest_id: int, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while sent(settings, digest_id) < count:
        assert time.monotonic() < deadline, f"fewer than {count} sent after {timeout} s"
        time.sleep(0.05)


def drain(settings: Settings, digest_id: int, timeout: float = 120) -> dict[str, Any]:
    """Wait for the send to end; fails after `timeout` (hung workers never drain)."""
    result = wait_for_drain(
        settings, digest_id, timeout=timeout, poll_seconds=0.2, reconcile_every=1.0
    )
    assert result["drained"], result
    return result


def events(settings: Settings) -> dict[str, int]:
    with db.session_scope(settings) as session:
        rows = session.execute(
            select(DeliveryEvent.kind, func.count()).group_by(DeliveryEvent.kind)
        )
        return {kind: int(n) for kind, n in rows}


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a live process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime, stime (clock ticks, USER_HZ)


def assert_idle(cluster: Cluster, seconds: float = 2.0) -> None:
    """The workers are alive and idle: less than a quarter of a core each over `seconds`
    (a worker spinning in a loop, as a frozen one did, uses most of one)."""
    names = list(cluster.workers)
    for name in names:
        assert cluster.workers[name].poll() is None, f"worker {name} died"
    before = {n: sum(cpu_seconds(p) for p in cluster.worker_pids(n)) for n in names}
    time.sleep(seconds)
    for name in names:
        used = sum(cpu_seconds(p) for p in cluster.worker_pids(name)) - before[name]
        assert used < seconds / 4, f"worker {name} busy: {used:.2f} s CPU in {seconds} s"
