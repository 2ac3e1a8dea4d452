"""The gTTS rate limit: in-process token bucket, and the Redis one shared by all workers."""

from __future__ import annotations

import pytest

from worker.audio.ratelimit import LocalBucket, RedisBucket, limiter_for


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
    bucket = LocalBucket(rate=10, burst=3, clock=fake.clock, sleep=fake.sleep)
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
    worker_a = RedisBucket(client, rate=1, burst=3, key="test:gtts")
    worker_b = RedisBucket(redis.Redis.from_url(redis_url), rate=1, burst=3, key="test:gtts")
    taken = [worker_a.try_acquire(), worker_b.try_acquire(), worker_a.try_acquire()]
    assert taken == [0.0, 0.0, 0.0]
    wait = worker_b.try_acquire()  # the burst is spent across both workers
    assert 0 < wait <= 1.0
    worker_a.block(30)  # a 429 with Retry-After seen by one worker pauses the other
    assert 29 < worker_b.try_acquire() <= 30
    client.close()


def test_limiter_for_picks_redis_only_with_a_redis_broker(redis_url: str) -> None:
    assert isinstance(limiter_for(None, 5, 5), LocalBucket)
    assert limiter_for(None, 5, 5) is limiter_for(None, 5, 5)  # one per process
    assert isinstance(limiter_for(redis_url, 5, 5), RedisBucket)
