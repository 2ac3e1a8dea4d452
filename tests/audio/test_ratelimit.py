"""The gTTS rate limit: one bucket per process, shared through Redis with a Redis broker."""

from __future__ import annotations

from worker.audio.ratelimit import limiter_for
from worker.ratelimit import LocalTokenBucket, RedisTokenBucket


def test_limiter_for_picks_redis_only_with_a_redis_broker(redis_url: str) -> None:
    assert isinstance(limiter_for(None, 5, 5), LocalTokenBucket)
    assert limiter_for(None, 5, 5) is limiter_for(None, 5, 5)  # one per process
    assert isinstance(limiter_for(redis_url, 5, 5), RedisTokenBucket)
