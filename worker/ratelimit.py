"""One token bucket for every "so many a second" limit: gTTS requests (worker/audio/) and
messages sent (worker/delivery/throttle.py). The web's per-client throttles count hits in a
moving window instead (web/throttle.py, on the `limits` library): they answer "wait N seconds"
to a visitor, these make a worker wait.

`rate` tokens a second, bursts up to `capacity`. In-process without Redis; with a Redis broker
the bucket lives in one hash shared by every worker on every host, taken atomically by a Lua
script on Redis's own clock (worker clocks may differ), since N in-process buckets would
multiply the rate. `block(seconds)` stops everybody (a 429 with Retry-After seen by one worker).
If Redis stops answering, the limit holds in-process and Redis is asked again only every
RETRY_REDIS_SECONDS, with one log line per outage (worker/outage.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

RETRY_REDIS_SECONDS = 5.0


class RateLimiter(Protocol):
    def acquire(self, n: int = 1) -> None:
        """Return once `n` tokens are taken (sleeping as long as needed)."""
        ...

    def block(self, seconds: float) -> None:
        """No token for anybody during `seconds`."""
        ...


class Unlimited:
    def acquire(self, n: int = 1) -> None:
        return None

    def block(self, seconds: float) -> None:
        return None


class RedisGate:
    """Whether to ask Redis now: not for RETRY_REDIS_SECONDS after it failed to answer."""

    def __init__(self) -> None:
        self.retry_at = 0.0

    def open(self) -> bool:
        return time.monotonic() >= self.retry_at

    def failed(self, exc: Exception, consequence: str) -> None:
        from worker import outage

        self.retry_at = time.monotonic() + RETRY_REDIS_SECONDS
        outage.BROKER.failed(exc, consequence)

    def answered(self) -> None:
        if self.retry_at:
            from worker import outage

            self.retry_at = 0.0
            outage.BROKER.ok()


class LocalTokenBucket:
    """The bucket in this process (embedded mode, or while Redis is away)."""

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = max(rate, 0.001)
        self.capacity = max(1.0, capacity if capacity is not None else rate)
        self.tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    def try_acquire(self, n: int = 1) -> float:
        """0.0 when the tokens were taken, else the seconds to wait before asking again."""
        with self._lock:
            now = self._clock()
            if now < self._blocked_until:
                return self._blocked_until - now
            self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self.tokens >= n - 1e-9:  # tolerance: a float refill must not spin on 0.99999
                self.tokens = max(0.0, self.tokens - n)
                return 0.0
            return (n - self.tokens) / self.rate

    def acquire(self, n: int = 1) -> None:
        while (wait := self.try_acquire(n)) > 0:
            self._sleep(wait)

    def block(self, seconds: float) -> None:
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)


# KEYS[1] the bucket, KEYS[2] (optional) the block; ARGV rate/s, capacity, wanted (1), the
# bucket's expiry in ms (60000). Returns 0 when taken, else the milliseconds to wait.
_BUCKET_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if KEYS[2] then
  local blocked = redis.call('PTTL', KEYS[2])
  if blocked > 0 then return blocked end
end
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local want = tonumber(ARGV[3]) or 1
local expiry = tonumber(ARGV[4]) or 60000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + (now - ts) * rate / 1000)
local wait = 0
if tokens >= want then
  tokens = tokens - want
else
  wait = math.ceil((want - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], expiry)
return wait
"""


class RedisTokenBucket:
    """The same bucket held in Redis under `key`, shared by every worker on every host.

    `what` names the limit in the outage log line ("the send rate")."""

    def __init__(
        self,
        client: Any,
        rate: float,
        capacity: float | None = None,
        *,
        key: str,
        expiry_seconds: int = 60,
        what: str = "the rate",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.fallback = LocalTokenBucket(rate, capacity, sleep=sleep)
        self.rate = self.fallback.rate
        self.capacity = self.fallback.capacity
        self.keys = [key, key + ":blocked"]
        self.expiry_ms = expiry_seconds * 1000
        self.script = client.register_script(_BUCKET_LUA)
        self.gate = RedisGate()
        self._consequence = f"{what} is limited in-process meanwhile"
        self._sleep = sleep

    def try_acquire(self, n: int = 1) -> float:
        """0.0 when the tokens were taken, else the seconds to wait (Redis errors raise)."""
        args = [self.rate, self.capacity, n, self.expiry_ms]
        return int(self.script(keys=self.keys, args=args)) / 1000

    def acquire(self, n: int = 1) -> None:
        while True:
            if not self.gate.open():
                self.fallback.acquire(n)
                return
            try:
                wait = self.try_acquire(n)
            except Exception as exc:  # Redis restarting: keep the limit locally meanwhile
                self.gate.failed(exc, self._consequence)
                self.fallback.acquire(n)
                return
            self.gate.answered()
            if wait <= 0:
                return
            self._sleep(wait)

    def block(self, seconds: float) -> None:
        self.fallback.block(seconds)  # holds here too if Redis goes away meanwhile
        millis = max(1, int(seconds * 1000))
        try:
            current = self.client.pttl(self.keys[1])
            if current is None or int(current) < millis:
                self.client.set(self.keys[1], b"1", px=millis)
        except Exception as exc:
            self.gate.failed(exc, self._consequence)
