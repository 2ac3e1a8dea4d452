"""Sending limits shared by every worker: messages per second and concurrent SMTP connections.

With a Redis broker both live in Redis (the token bucket of worker/ratelimit.py, and a
lease-based semaphore, each one Lua script, so the check-and-take is atomic across hosts;
Redis's own clock is used so worker clocks may differ). Without one (embedded mode) they are
in-process.
A Redis restart only resets the bucket and the slots: sending goes on. With Redis down the
limits hold in-process and Redis is asked again only every RETRY_REDIS_SECONDS, so a Redis that
does not answer costs one bounded wait (its socket timeout) now and then, not one per message,
and one log line per outage (worker/outage.py).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from typing import Any, Protocol

from worker.outage import broker_redis
from worker.ratelimit import (  # the bucket lives there; these names stay importable here
    RETRY_REDIS_SECONDS,
    LocalTokenBucket,
    RateLimiter,
    RedisGate,
    RedisTokenBucket,
    Unlimited,
)
from worker.settings import Settings

__all__ = [
    "BUCKET_KEY",
    "RETRY_REDIS_SECONDS",
    "SLOTS_KEY",
    "ConnectionSlots",
    "LocalSlots",
    "LocalTokenBucket",
    "RateLimiter",
    "RedisGate",
    "RedisSlots",
    "RedisTokenBucket",
    "Unlimited",
    "connection_slots",
    "limits_redis",
    "rate_limiter",
]

BUCKET_KEY = "digestcast:throttle:bucket"
SLOTS_KEY = "digestcast:throttle:connections"
SLOT_TTL_SECONDS = 120


# KEYS[1] zset of holders scored by expiry (ms); ARGV limit, member, ttl ms. 1 = acquired.
_SLOT_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
  return 1
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
  return 1
end
return 0
"""

# refresh only if still held (XX); 1 = still ours
_SLOT_REFRESH_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not score) or tonumber(score) < now then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
"""


class ConnectionSlots(Protocol):
    def acquire(self) -> None: ...

    def refresh(self) -> bool: ...

    def release(self) -> None: ...


class LocalSlots:
    """In-process semaphore (embedded mode: the limit holds within this process only)."""

    def __init__(self, limit: int) -> None:
        self.semaphore = threading.BoundedSemaphore(max(1, limit))

    def acquire(self) -> None:
        self.semaphore.acquire()

    def refresh(self) -> bool:
        return True

    def release(self) -> None:
        with contextlib.suppress(ValueError):
            self.semaphore.release()


class RedisSlots:
    """At most `limit` SMTP connections across all workers; a holder's slot lapses after a TTL
    unless refreshed, so a killed worker never keeps its slot for long."""

    def __init__(self, client: Any, limit: int, ttl_seconds: int = SLOT_TTL_SECONDS) -> None:
        self.client = client
        self.limit = max(1, limit)
        self.ttl_ms = ttl_seconds * 1000
        self.member = uuid.uuid4().hex
        self.acquire_script = client.register_script(_SLOT_ACQUIRE_LUA)
        self.refresh_script = client.register_script(_SLOT_REFRESH_LUA)
        self.refreshed = 0.0
        self.gate = RedisGate()

    def acquire(self) -> None:
        delay = 0.05
        while True:
            if not self.gate.open():
                return
            try:
                ok = self.acquire_script(
                    keys=[SLOTS_KEY], args=[self.limit, self.member, self.ttl_ms]
                )
            except Exception as exc:  # Redis down: do not stop sending over it
                self.gate.failed(exc, "SMTP connections are not capped across workers meanwhile")
                return
            self.gate.answered()
            if int(ok) == 1:
                self.refreshed = time.monotonic()
                return
            time.sleep(delay)
            delay = min(1.0, delay * 2)

    def refresh(self) -> bool:
        # a round trip at most every third of the TTL, not per message
        if time.monotonic() - self.refreshed < self.ttl_ms / 3000 or not self.gate.open():
            return True
        try:
            ok = int(self.refresh_script(keys=[SLOTS_KEY], args=[self.member, self.ttl_ms])) == 1
        except Exception as exc:
            self.gate.failed(exc, "SMTP connections are not capped across workers meanwhile")
            return True
        if ok:
            self.refreshed = time.monotonic()
        return ok

    def release(self) -> None:
        with contextlib.suppress(Exception):  # the slot lapses by itself anyway
            self.client.zrem(SLOTS_KEY, self.member)


def limits_redis(settings: Settings) -> Any | None:
    return broker_redis(settings, timeout=5)


def rate_limiter(settings: Settings) -> RateLimiter:
    if settings.send_rate_per_second <= 0:
        return Unlimited()
    client = limits_redis(settings)
    if client is None:
        return LocalTokenBucket(settings.send_rate_per_second)
    return RedisTokenBucket(
        client, settings.send_rate_per_second, key=BUCKET_KEY, what="the send rate"
    )


def connection_slots(settings: Settings) -> ConnectionSlots:
    client = limits_redis(settings)
    if client is None:
        return LocalSlots(settings.smtp_max_connections)
    return RedisSlots(client, settings.smtp_max_connections)
