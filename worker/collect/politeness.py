"""At most FETCH_PER_HOST_CONCURRENCY fetches at once to one host, across sources and workers.

With a Redis broker the slots of a host are a sorted set in Redis (members scored by the expiry
of their lease, taken and counted by one Lua script with Redis's clock), so every worker on
every machine shares them; a worker killed mid-fetch loses its slot when the lease lapses.
Without a broker (embedded mode) they are semaphores in this process, shared by the collect
threads of a run. Waits are bounded: a host whose slots stay taken for the whole wait gives
HostBusyError (the source is retried on a later run, not counted as failing), and an unreachable
Redis falls back to the in-process slots instead of blocking collection.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from worker.collect.fetch import HostBusyError, HostSlots
from worker.settings import Settings

log = logging.getLogger(__name__)

KEY_PREFIX = "digestcast:fetch:host:"
RETRY_LATER_SECONDS = 60.0  # a host that stayed busy: its source is tried again after this
REDIS_COOLDOWN_SECONDS = 30.0  # after a Redis error, in-process slots for this long

# KEYS[1] the host's zset; ARGV limit, member, lease ms. 1 = taken.
_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
  return 1
end
return 0
"""


def _busy(host: str, limit: int, waited: float) -> HostBusyError:
    return HostBusyError(
        f"{host}: all {limit} fetch slots stayed taken for {waited:g} s "
        f"(FETCH_PER_HOST_CONCURRENCY); trying again later",
        RETRY_LATER_SECONDS,
    )


class Unlimited:
    def hold(self, host: str) -> AbstractContextManager[None]:
        return nullcontext()


class LocalHostSlots:
    """Per-host semaphores of this process."""

    def __init__(self, limit: int, wait_seconds: float) -> None:
        self.limit = max(1, limit)
        self.wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}

    @contextmanager
    def hold(self, host: str) -> Iterator[None]:
        with self._lock:
            semaphore = self._semaphores.setdefault(host, threading.BoundedSemaphore(self.limit))
        if not semaphore.acquire(timeout=self.wait_seconds):
            raise _busy(host, self.limit, self.wait_seconds)
        try:
            yield
        finally:
            semaphore.release()


class RedisHostSlots:
    """Per-host leases in Redis, shared by every worker."""

    def __init__(
        self,
        client: Any,
        limit: int,
        *,
        lease_seconds: float,
        wait_seconds: float,
        fallback: LocalHostSlots,
    ) -> None:
        self.client = client
        self.limit = max(1, limit)
        self.lease_ms = max(1000, int(lease_seconds * 1000))
        self.wait_seconds = wait_seconds
        self.fallback = fallback
        self._script = client.register_script(_ACQUIRE_LUA)
        self._down_until = 0.0

    def _try(self, key: str, member: str) -> bool | None:
        """True taken, False busy, None when Redis cannot be asked."""
        if time.monotonic() < self._down_until:
            return None
        try:
            return int(self._script(keys=[key], args=[self.limit, member, self.lease_ms])) == 1
        except Exception as exc:  # Redis down or restarting: politeness in-process meanwhile
            log.warning("fetch slots: Redis unavailable (%s); limiting in-process", exc)
            self._down_until = time.monotonic() + REDIS_COOLDOWN_SECONDS
            return None

    @contextmanager
    def hold(self, host: str) -> Iterator[None]:
        key, member = KEY_PREFIX + host, uuid.uuid4().hex
        started = time.monotonic()
        delay = 0.02
        while (taken := self._try(key, member)) is False:
            left = started + self.wait_seconds - time.monotonic()
            if left <= 0:
                raise _busy(host, self.limit, self.wait_seconds)
            time.sleep(min(left, delay * random.uniform(0.5, 1.5)))  # jittered backoff
            delay = min(0.5, delay * 2)
        if taken is None:
            with self.fallback.hold(host):
                yield
            return
        try:
            yield
        finally:
            try:
                self.client.zrem(key, member)
            except Exception:  # the lease lapses by itself
                log.info("fetch slots: could not release %s; its lease lapses", host)


_shared: dict[tuple[str, int, float], HostSlots] = {}
_shared_lock = threading.Lock()


def host_slots(settings: Settings) -> HostSlots:
    """This process's slots for the configuration: one set shared by every collect thread and
    task of the process (Celery task arguments cannot carry it), kept in Redis with a broker."""
    key = (
        settings.broker_url or "",
        settings.fetch_per_host_concurrency,
        settings.fetch_timeout_seconds,
    )
    with _shared_lock:
        if key not in _shared:
            _shared[key] = new_host_slots(settings)
        return _shared[key]


def new_host_slots(settings: Settings) -> HostSlots:
    """A set of slots of its own (what one worker process holds)."""
    limit = settings.fetch_per_host_concurrency
    if limit <= 0:
        return Unlimited()
    # a fetch takes at most 3 timeouts for its body plus connecting: the lease outlives it
    lease = settings.fetch_timeout_seconds * 4 + 5
    wait = lease * 2
    local = LocalHostSlots(limit, wait)
    from worker.outage import broker_redis

    client = broker_redis(settings)
    if client is None:
        return local
    return RedisHostSlots(client, limit, lease_seconds=lease, wait_seconds=wait, fallback=local)
