"""Request throttles for the web side: at most N hits per key in a moving window.

`Throttle` is the whole interface the routes see (`hit(key) -> seconds to wait, 0 when
allowed`), so the counting can move without touching a route. Counting is the `limits`
library's moving window (a visitor is told how long to wait; the workers' own limits, which
make a worker wait, are the token bucket of worker/ratelimit.py): in Redis when the broker is
Redis, through the same short-timeout client as every other Redis use (worker/outage.py), so
every `--workers` process and every web host shares one count, else in memory.
If Redis stops answering, the throttle counts in memory in the meantime rather than refusing
every visitor or letting everything through.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import time
from typing import Protocol

from limits import RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from worker.outage import broker_redis
from worker.settings import Settings

log = logging.getLogger(__name__)
KEY_PREFIX = "digestcast:throttle"


class Throttle(Protocol):
    def hit(self, key: str) -> float:
        """Count one hit for `key`: 0 when allowed, else the seconds until one would be."""
        ...


class WindowThrottle:
    """At most `limit` hits per key within `window_seconds` (a moving window)."""

    def __init__(self, storage: Storage, name: str, limit: int, window_seconds: int) -> None:
        self._item = RateLimitItemPerSecond(max(1, limit), max(1, window_seconds))
        self._name = name
        self._limiter = MovingWindowRateLimiter(storage)
        self._fallback: MovingWindowRateLimiter | None = None
        if not isinstance(storage, MemoryStorage):
            self._fallback = MovingWindowRateLimiter(MemoryStorage())

    def _hit(self, limiter: MovingWindowRateLimiter, key: str) -> float:
        if limiter.hit(self._item, self._name, key):
            return 0.0
        reset_at = limiter.get_window_stats(self._item, self._name, key).reset_time
        return max(1.0, reset_at - time.time())

    def hit(self, key: str) -> float:
        try:
            return self._hit(self._limiter, key)
        except StorageError:
            if self._fallback is None:
                raise
            log.warning("throttle %s: Redis unavailable, counting in this process", self._name)
            return self._hit(self._fallback, key)


def throttle_storage(settings: Settings) -> Storage:
    client = broker_redis(settings)  # its pool: short timeouts, no retries
    if client is not None:
        return RedisStorage(
            "redis://",
            connection_pool=client.connection_pool,
            key_prefix=KEY_PREFIX,
            wrap_exceptions=True,
        )
    return MemoryStorage()


def client_key(host: str | None) -> str:
    """The client's address as a throttle key: IPv6 by its /64, which one household holds."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:100]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def recipient_key(settings: Settings, email: str) -> str:
    """An address as a throttle key, keyed-hashed so Redis never holds addresses."""
    return hashed_key(settings, email)


def hashed_key(settings: Settings, value: str) -> str:
    """A throttle key that does not reveal `value` (an email or a client address)."""
    secret = settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()[:32]


def beacon_throttle(settings: Settings, storage: Storage | None = None) -> Throttle:
    """Listen beacons per client address per minute (the address only as a keyed hash)."""
    storage = storage if storage is not None else throttle_storage(settings)
    return WindowThrottle(storage, "beacon-client", settings.beacon_rate_limit, 60)


class SubscribeThrottles:
    """The two limits on POST /subscribe: per client address, and per recipient address."""

    def __init__(self, settings: Settings, storage: Storage | None = None) -> None:
        storage = storage if storage is not None else throttle_storage(settings)
        self.client: Throttle = WindowThrottle(
            storage,
            "subscribe-client",
            settings.subscribe_rate_limit,
            settings.subscribe_rate_window_seconds,
        )
        self.recipient: Throttle = WindowThrottle(
            storage,
            "subscribe-recipient",
            settings.subscribe_recipient_limit,
            settings.subscribe_recipient_window_seconds,
        )
