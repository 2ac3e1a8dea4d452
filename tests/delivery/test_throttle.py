"""Rate and connection limits: the Redis scripts (real Redis) and the in-process versions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
import redis

from worker import outage
from worker.delivery import throttle
from worker.delivery.throttle import (
    BUCKET_KEY,
    SLOTS_KEY,
    LocalSlots,
    LocalTokenBucket,
    RedisSlots,
    RedisTokenBucket,
    Unlimited,
)
from worker.settings import Settings


def test_local_bucket_takes_tokens_up_to_capacity() -> None:
    bucket = LocalTokenBucket(rate=1000.0, capacity=3)
    for _ in range(3):
        bucket.acquire()
    assert bucket.tokens < 1  # the burst is spent; the next acquire has to wait for a refill


def test_redis_bucket_is_shared_and_says_how_long_to_wait(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    one = RedisTokenBucket(client, rate=1.0, capacity=3, key=BUCKET_KEY)
    two = RedisTokenBucket(
        client, rate=1.0, capacity=3, key=BUCKET_KEY
    )  # another worker, same bucket
    waits = [int(b.script(keys=[BUCKET_KEY], args=[1.0, 3, 1])) for b in (one, two, one, two)]
    assert waits[:3] == [0, 0, 0]
    assert 0 < waits[3] <= 1000  # the fourth token within the second must wait for the refill
    client.close()


def test_redis_slots_cap_connections_across_workers(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    a, b, c = (RedisSlots(client, limit=2) for _ in range(3))
    a.acquire()
    b.acquire()
    assert int(c.acquire_script(keys=[SLOTS_KEY], args=[2, c.member, c.ttl_ms])) == 0
    a.release()
    assert int(c.acquire_script(keys=[SLOTS_KEY], args=[2, c.member, c.ttl_ms])) == 1
    assert client.zcard(SLOTS_KEY) == 2
    b.refreshed = 0.0
    assert b.refresh() is True
    client.close()


def test_local_slots_release_is_idempotent() -> None:
    slots = LocalSlots(1)
    slots.acquire()
    slots.release()
    slots.release()  # a double release must not raise or raise the limit
    assert slots.semaphore.acquire(blocking=False)
    assert not slots.semaphore.acquire(blocking=False)


def test_factories_pick_redis_only_with_a_redis_broker(redis_url: str) -> None:
    assert isinstance(throttle.rate_limiter(Settings(send_rate_per_second=0)), Unlimited)
    local = throttle.rate_limiter(Settings(send_rate_per_second=50))
    assert isinstance(local, LocalTokenBucket)
    shared = throttle.rate_limiter(Settings(send_rate_per_second=50, broker_url=redis_url))
    assert isinstance(shared, RedisTokenBucket)
    assert isinstance(throttle.connection_slots(Settings(broker_url=redis_url)), RedisSlots)


def test_redis_down_limits_locally_asking_redis_only_now_and_then(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.delivery.smtp_server import free_port

    # nothing listens on that port: every attempt is refused at once
    client = outage.redis_client(f"redis://127.0.0.1:{free_port()}/0", timeout=1)
    bucket = RedisTokenBucket(client, rate=10_000.0, key=BUCKET_KEY)
    slots = RedisSlots(client, limit=2)
    asked = {"n": 0}

    def counting(script: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            asked["n"] += 1
            return script(*args, **kwargs)

        return call

    bucket.script = counting(bucket.script)
    slots.acquire_script = counting(slots.acquire_script)
    outage.BROKER.since = None
    with caplog.at_level(logging.WARNING, logger="digestcast.outage"):
        for _ in range(200):
            bucket.acquire()
            slots.acquire()
    assert asked["n"] == 2  # once each, then not again for RETRY_REDIS_SECONDS
    lines = [r.getMessage() for r in caplog.records if "redis unavailable" in r.getMessage()]
    assert len(lines) == 1, lines
    outage.BROKER.since = None
