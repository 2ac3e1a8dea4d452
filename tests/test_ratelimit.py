"""The token bucket behind every rate limit: in-process, and in Redis shared by all workers."""

from __future__ import annotations

import pytest

from worker.ratelimit import LocalTokenBucket, RedisTokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_local_bucket_allows_a_burst_then_the_rate() -> None:
    fake = FakeTime()
    bucket = LocalTokenBucket(rate=10, capacity=3, clock=fake.clock, sleep=fake.sleep)
    for _ in range(3):
        bucket.acquire()
    assert fake.sleeps == []
    bucket.acquire()
    assert fake.sleeps == [pytest.approx(0.1)]
    bucket.block(5)
    bucket.acquire()
    assert sum(fake.sleeps[1:]) == pytest.approx(5, abs=0.11)


def test_redis_bucket_is_shared_between_workers(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    worker_a = RedisTokenBucket(client, rate=1, capacity=3, key="test:gtts")
    worker_b = RedisTokenBucket(
        redis.Redis.from_url(redis_url), rate=1, capacity=3, key="test:gtts"
    )
    taken = [worker_a.try_acquire(), worker_b.try_acquire(), worker_a.try_acquire()]
    assert taken == [0.0, 0.0, 0.0]
    wait = worker_b.try_acquire()  # the burst is spent across both workers
    assert 0 < wait <= 1.0
    worker_a.block(30)  # a 429 with Retry-After seen by one worker pauses the other
    assert 29 < worker_b.try_acquire() <= 30
    client.close()


def test_local_bucket_takes_several_tokens_at_once() -> None:
    fake = FakeTime()
    bucket = LocalTokenBucket(rate=10, capacity=5, clock=fake.clock, sleep=fake.sleep)
    bucket.acquire(5)
    assert fake.sleeps == []
    bucket.acquire(2)  # a batch of two messages waits for two tokens
    assert fake.sleeps == [pytest.approx(0.2)]
