"""Telling an outage of PostgreSQL or Redis apart from a bug, and saying so once.

A task that meets a database or broker that is down (restarted, failed over, stopped) ends
cleanly and is tried again later with a capped backoff; the worker process itself carries on
and needs no restart. `Outage` logs one line when a dependency goes away and one when it is
back, instead of a traceback per task for as long as the outage lasts.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from worker.settings import Settings

log = logging.getLogger("digestcast.outage")


class DatabaseUnavailable(RuntimeError):
    """The database stopped answering within its deadline, or its connection broke."""


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says the database cannot be reached, not that a
    statement was wrong: connection refused or broken, server shutting down, deadline."""
    import psycopg
    from sqlalchemy import exc as sa

    for item in _chain(exc):
        if isinstance(item, DatabaseUnavailable | psycopg.OperationalError | sa.InterfaceError):
            return True
        if isinstance(item, sa.OperationalError) or (
            isinstance(item, sa.DBAPIError) and item.connection_invalidated
        ):
            return True
    return False


def broker_unavailable(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says Redis (the broker) cannot be reached."""
    import redis
    from kombu.exceptions import OperationalError

    return any(
        isinstance(item, redis.ConnectionError | redis.TimeoutError | OperationalError)
        for item in _chain(exc)
    )


def backoff(retries: int, cap: float) -> float:
    """Seconds before retry number `retries` (0-based): 1, 2, 4... capped, with jitter so
    that a thousand waiting batches do not all knock at the same second."""
    return float(min(cap, 2.0**retries) * random.uniform(0.5, 1.0))


class Outage:
    """One ERROR line when `name` goes away, one WARNING line when it is back."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.since: float | None = None

    def failed(self, exc: BaseException, consequence: str) -> None:
        if self.since is None:
            self.since = time.monotonic()
            reason = " ".join(str(exc).split())[:300] or type(exc).__name__
            log.error("%s unavailable (%s); %s", self.name, reason, consequence)

    def ok(self) -> None:
        if self.since is not None:
            log.warning("%s reachable again after %.0f s", self.name, time.monotonic() - self.since)
            self.since = None


DATABASE = Outage("database")
BROKER = Outage("redis")


class BrokerRetryLines(logging.Filter):
    """Celery's consumer logs a traceback when it loses Redis and then one ERROR per
    reconnection attempt for as long as Redis is away; this turns them into BROKER's one line
    (and "reachable again" when Celery says it is connected)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(("consumer: Cannot connect to", "consumer: Connection to broker")):
            exc = record.exc_info[1] if record.exc_info and record.exc_info[1] else None
            reason = exc if exc is not None else RuntimeError(message.split("\n")[0][10:])
            BROKER.failed(reason, "workers retry the connection with backoff, for ever")
            return False
        if message.startswith("Connected to "):
            BROKER.ok()
        return True


def quiet_broker_retries() -> None:
    """Install BrokerRetryLines on Celery's consumer loggers (idempotent)."""
    for name in ("celery.worker.consumer.consumer", "celery.worker.consumer.connection"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, BrokerRetryLines) for f in logger.filters):
            logger.addFilter(BrokerRetryLines())


# the broker URLs that name a Redis server (redis-py's schemes: TCP, TLS, a Unix socket)
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def is_redis(url: str | None) -> bool:
    return url is not None and url.startswith(REDIS_SCHEMES)


def broker_redis(settings: Settings, timeout: float = 2.0) -> Any | None:
    """A `redis_client` for the broker's Redis, or None when the broker is not Redis (embedded
    mode, another transport): the shared limits, locks and counters then stay in-process."""
    url = settings.broker_url
    return redis_client(url, timeout) if url and is_redis(url) else None


def redis_client(url: str, timeout: float = 2.0) -> Any:
    """A Redis client for short questions (limits, locks, counters, health): every wait
    bounded by `timeout` and no retries, so a Redis that is down costs one refused connection
    (or `timeout`), never redis-py's default 3 retries with backoff (measured: 4.4 s a call)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
