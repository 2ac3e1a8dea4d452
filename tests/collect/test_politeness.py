"""At most FETCH_PER_HOST_CONCURRENCY fetches at once to one host: across the sources of a run,
across workers (Redis), with bounded waits, and without Redis when it is gone."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager

import pytest
import redis

from tests.collect.helpers import FeedServer, Route, write_sources
from tests.conftest import free_port
from worker import db
from worker.collect.fetch import HostBusyError
from worker.collect.politeness import (
    KEY_PREFIX,
    LocalHostSlots,
    RedisHostSlots,
    new_host_slots,
)
from worker.collect.runner import active_source_ids, collect_one, run_collect
from worker.models import Source
from worker.settings import Settings
from worker.storage import get_storage

HOLD = 0.4  # seconds each request takes on the server


def one_item_feed(path: str) -> Route:
    """A feed that takes HOLD seconds to answer (the server counts requests in flight)."""
    body = (
        f"<rss version='2.0'><channel><title>S</title><item><title>Story {path}</title>"
        f"<guid>g{path}</guid><description>T</description></item></channel></rss>"
    ).encode()
    return Route(body=body, delay=HOLD)


def sources(settings: Settings, server: FeedServer, hosts: list[str], each: int) -> Settings:
    specs = []
    for host in hosts:
        for n in range(each):
            server.routes[f"/{host}/{n}"] = one_item_feed(f"/{host}/{n}")
            specs.append({"name": f"{host} {n}", "url": f"http://{host}:{server.port}/{host}/{n}"})
    return write_sources(settings, *({**s, "kind": "news-feed"} for s in specs))


def test_one_run_keeps_to_the_limit_per_host(settings: Settings, feed_server: FeedServer) -> None:
    configured = settings.model_copy(update={"collect_concurrency": 8})
    configured = sources(configured, feed_server, ["127.0.0.1", "localhost"], 4)
    results = run_collect(configured)
    assert all(r["ok"] for r in results), results
    assert dict(feed_server.peak) == {"127.0.0.1": 2, "localhost": 2}  # the default: 2 per host


def test_the_limit_is_what_limits(settings: Settings, feed_server: FeedServer) -> None:
    configured = settings.model_copy(
        update={"collect_concurrency": 6, "fetch_per_host_concurrency": 6}
    )
    assert all(r["ok"] for r in run_collect(sources(configured, feed_server, ["127.0.0.1"], 6)))
    assert feed_server.peak["127.0.0.1"] > 2


def test_workers_share_the_slots_through_redis(
    settings: Settings, feed_server: FeedServer, redis_url: str
) -> None:
    """Two workers (two slot objects, two Redis connections), three sources each at once."""
    configured = sources(
        settings.model_copy(update={"broker_url": redis_url}), feed_server, ["127.0.0.1"], 6
    )
    ids = active_source_ids(configured)
    storage = get_storage(configured)
    workers = [new_host_slots(configured), new_host_slots(configured)]
    assert all(isinstance(w, RedisHostSlots) for w in workers)
    with ThreadPoolExecutor(6) as pool:
        jobs = [
            pool.submit(collect_one, configured, storage, sid, workers[i % 2])
            for i, sid in enumerate(ids)
        ]
        results = [j.result() for j in jobs]
    assert all(r["ok"] for r in results), results
    assert feed_server.peak["127.0.0.1"] == 2
    assert not redis.Redis.from_url(redis_url).keys(KEY_PREFIX + "*")  # every slot given back


def _hold_in_thread(slots: object, host: str, seconds: float) -> threading.Thread:
    started = threading.Event()

    def run() -> None:
        with slots.hold(host):  # type: ignore[attr-defined]
            started.set()
            time.sleep(seconds)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(5)
    return thread


def test_waits_are_bounded_in_process() -> None:
    slots = LocalHostSlots(1, wait_seconds=0.2)
    holder = _hold_in_thread(slots, "feeds.example.org", 2.0)
    with (
        pytest.raises(HostBusyError, match=r"feeds\.example\.org"),
        slots.hold("feeds.example.org"),
    ):
        pass
    with slots.hold("other.example.org"):  # another host is not held up
        pass
    holder.join()
    with slots.hold("feeds.example.org"):  # and the slot is free again afterwards
        pass


def test_waits_are_bounded_and_leases_lapse_in_redis(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    slots = RedisHostSlots(
        client, 1, lease_seconds=1.0, wait_seconds=0.3, fallback=LocalHostSlots(1, 0.3)
    )
    # a worker that died holding the only slot: busy for a while, free once its lease lapses
    client.zadd(KEY_PREFIX + "feeds.example.org", {"dead-worker": time.time() * 1000 + 1000})
    assert client.zcard(KEY_PREFIX + "feeds.example.org") == 1
    with pytest.raises(HostBusyError), slots.hold("feeds.example.org"):
        pass
    patient = RedisHostSlots(
        client, 1, lease_seconds=1.0, wait_seconds=5.0, fallback=LocalHostSlots(1, 5.0)
    )
    with patient.hold("feeds.example.org"):
        assert client.zcard(KEY_PREFIX + "feeds.example.org") == 1  # ours now
    assert client.zcard(KEY_PREFIX + "feeds.example.org") == 0


def test_without_redis_the_slots_are_kept_in_process(settings: Settings) -> None:
    gone = settings.model_copy(
        update={"broker_url": f"redis://127.0.0.1:{free_port()}/0", "fetch_per_host_concurrency": 1}
    )
    slots = new_host_slots(gone)
    assert isinstance(slots, RedisHostSlots)
    holder = _hold_in_thread(slots, "feeds.example.org", 1.0)  # falls back, does not hang
    slots.fallback.wait_seconds = 0.1
    with pytest.raises(HostBusyError), slots.hold("feeds.example.org"):
        pass  # the limit still holds, in this process
    holder.join()


class Busy:
    def hold(self, host: str) -> AbstractContextManager[None]:
        raise HostBusyError(f"{host}: all 2 fetch slots stayed taken", 60.0)


def test_a_busy_host_is_tried_later_not_counted_as_failing(
    settings: Settings, feed_server: FeedServer
) -> None:
    configured = sources(settings, feed_server, ["127.0.0.1"], 1)
    (sid,) = active_source_ids(configured)
    result = collect_one(configured, get_storage(configured), sid, Busy())
    assert not result["ok"] and "fetch slots" in str(result["error"])
    with db.session_scope(configured) as session:
        source = session.get(Source, sid)
        assert source is not None
        assert source.consecutive_failures == 0 and source.retry_after is not None


def test_digestcast_collect_keeps_to_the_limit(settings: Settings, feed_server: FeedServer) -> None:
    """The CLI's road: one `collect.source` task per source, run in threads."""
    from worker.pipeline import collect

    configured = sources(
        settings.model_copy(update={"collect_concurrency": 6}), feed_server, ["127.0.0.1"], 6
    )
    summary = collect(configured)
    assert summary.sources == 6 and not summary.failed, summary.line()
    assert feed_server.peak["127.0.0.1"] == 2
