"""The gTTS request limit: one bucket per process and configuration (worker/ratelimit.py).

Politeness toward Google is a property of the whole deployment, not of one process: with a
Redis broker the bucket is shared by every worker, and a 429 with Retry-After `block`s it for
everybody, so other workers stop too instead of collecting their own 429s.
"""

from __future__ import annotations

import threading

from worker.outage import is_redis, redis_client
from worker.ratelimit import LocalTokenBucket, RateLimiter, RedisTokenBucket

BUCKET_KEY = "digestcast:gtts:bucket"
# the bucket outlives a pause between articles: a worker that comes back finds it spent
BUCKET_EXPIRY_SECONDS = 600

_shared: dict[tuple[str | None, float, int], RateLimiter] = {}
_shared_lock = threading.Lock()


def limiter_for(broker_url: str | None, rate: float, burst: int) -> RateLimiter:
    """One limiter per process and configuration: Redis-backed when the broker is Redis."""
    key = (broker_url, rate, burst)
    with _shared_lock:
        if key not in _shared:
            if broker_url and is_redis(broker_url):
                _shared[key] = RedisTokenBucket(
                    redis_client(broker_url),
                    rate,
                    burst,
                    key=BUCKET_KEY,
                    expiry_seconds=BUCKET_EXPIRY_SECONDS,
                    what="the gTTS request rate",
                )
            else:
                _shared[key] = LocalTokenBucket(rate, burst)
        return _shared[key]
