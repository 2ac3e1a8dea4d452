"""A token bucket for gTTS requests, shared by every worker when Redis is the broker.

Politeness toward Google is a property of the whole deployment, not of one process: with N
workers, N in-process buckets would multiply the rate. With Redis the bucket lives in one hash,
updated atomically by a Lua script using the server's clock. A 429 with Retry-After `block`s the
bucket for everybody, so other workers stop too instead of collecting their own 429s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol


class RateLimiter(Protocol):
    def acquire(self) -> None: ...
    def block(self, seconds: float) -> None: ...


class LocalBucket:
    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = max(rate, 0.001)
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._stamp = clock()
        self._blocked_until = 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()

    def _wait(self) -> float:
        with self._lock:
            now = self._clock()
            if now < self._blocked_until:
                return self._blocked_until - now
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1 - 1e-9:  # tolerance: float refill must not spin on 0.99999
                self._tokens = max(0.0, self._tokens - 1)
                return 0.0
            return (1 - self._tokens) / self.rate

    def acquire(self) -> None:
        while (wait := self._wait()) > 0:
            self._sleep(wait)

    def block(self, seconds: float) -> None:
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)


# returns 0 when a token was taken, else the milliseconds to wait before asking again
_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then return blocked end
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local data = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(data[1]) or burst
local ts = tonumber(data[2]) or now
tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], 600000)
return wait
"""


class RedisBucket:
    def __init__(
        self,
        client: Any,
        rate: float,
        burst: int,
        *,
        key: str = "digestcast:gtts:bucket",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.rate = max(rate, 0.001)
        self.burst = max(1, burst)
        self.keys = [key, key + ":blocked"]
        self._script = client.register_script(_LUA)
        self._sleep = sleep

    def try_acquire(self) -> float:
        """0.0 when a token was taken, else the seconds to wait."""
        wait_ms = int(self._script(keys=self.keys, args=[self.rate, self.burst]))
        return wait_ms / 1000

    def acquire(self) -> None:
        while (wait := self.try_acquire()) > 0:
            self._sleep(wait)

    def block(self, seconds: float) -> None:
        millis = max(1, int(seconds * 1000))
        current = self.client.pttl(self.keys[1])
        if current is None or int(current) < millis:
            self.client.set(self.keys[1], b"1", px=millis)


_shared: dict[tuple[str | None, float, int], RateLimiter] = {}
_shared_lock = threading.Lock()


def limiter_for(broker_url: str | None, rate: float, burst: int) -> RateLimiter:
    """One limiter per process and configuration: Redis-backed when the broker is Redis."""
    key = (broker_url, rate, burst)
    with _shared_lock:
        if key not in _shared:
            if broker_url and broker_url.startswith(("redis://", "rediss://", "unix://")):
                from worker.outage import redis_client

                _shared[key] = RedisBucket(redis_client(broker_url), rate, burst)
            else:
                _shared[key] = LocalBucket(rate, burst)
        return _shared[key]
