"""Telling a PostgreSQL or Redis outage from a bug, and one log line each way."""

from __future__ import annotations

import logging

import psycopg
import pytest
import redis
from kombu.exceptions import OperationalError as KombuOperationalError
from sqlalchemy import exc as sa

from worker import outage


def _wrapped(inner: BaseException) -> RuntimeError:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise RuntimeError("while sending a batch") from exc
    except RuntimeError as outer:
        return outer


def test_database_outages_are_told_from_bugs() -> None:
    refused = sa.OperationalError("SELECT 1", {}, psycopg.OperationalError("connection refused"))
    assert outage.database_unavailable(refused)
    assert outage.database_unavailable(_wrapped(refused))  # found through the cause
    assert outage.database_unavailable(outage.DatabaseUnavailable("no reply for 15 s"))
    assert outage.database_unavailable(psycopg.OperationalError("server closed the connection"))
    duplicate = sa.IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key"))
    assert not outage.database_unavailable(duplicate)
    assert not outage.database_unavailable(ValueError("a bug"))
    assert not outage.database_unavailable(redis.ConnectionError("refused"))


def test_broker_outages_are_told_from_bugs() -> None:
    assert outage.broker_unavailable(redis.ConnectionError("Error 111 connecting"))
    assert outage.broker_unavailable(redis.TimeoutError("Timeout reading"))
    assert outage.broker_unavailable(_wrapped(KombuOperationalError("Error 111")))
    assert not outage.broker_unavailable(KeyError("a bug"))


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    assert 0.5 <= outage.backoff(0, 30) <= 1
    assert 4 <= outage.backoff(3, 30) <= 8
    assert all(15 <= outage.backoff(n, 30) <= 30 for n in range(5, 40))


def test_one_line_when_it_goes_one_when_it_is_back(caplog: pytest.LogCaptureFixture) -> None:
    tracker = outage.Outage("database")
    with caplog.at_level(logging.INFO, logger="digestcast.outage"):
        for _ in range(50):
            tracker.failed(psycopg.OperationalError("connection\n refused"), "batches retry")
        tracker.ok()
        tracker.ok()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "database unavailable (connection refused); batches retry"
    assert lines[1].startswith("database reachable again after ") and len(lines) == 2


def test_celerys_reconnection_lines_become_one_each_way(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outage.quiet_broker_retries()
    outage.quiet_broker_retries()  # idempotent
    consumer = logging.getLogger("celery.worker.consumer.consumer")
    connection = logging.getLogger("celery.worker.consumer.connection")
    outage.BROKER.since = None
    with caplog.at_level(logging.INFO):
        for attempt in range(1, 6):
            consumer.error(
                "consumer: Cannot connect to %s: %s.\nTrying again in %.2f seconds... (%s/%s)\n",
                "redis://127.0.0.1:6379/0",
                "Error 111 connecting to 127.0.0.1:6379. Connection refused.",
                attempt * 2.0,
                attempt,
                100,
            )
        connection.info("Connected to %s", "redis://127.0.0.1:6379/0")
    lines = [r.getMessage() for r in caplog.records]
    assert not [r for r in caplog.records if r.name == consumer.name]  # folded into ours
    assert sum("redis unavailable (" in line for line in lines) == 1
    assert sum("redis reachable again" in line for line in lines) == 1
    assert "Connected to redis://127.0.0.1:6379/0" in lines
