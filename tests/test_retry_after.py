"""Retry-After as both feeds and Google's TTS endpoint send it."""

from __future__ import annotations

from email.utils import formatdate

from worker.retry_after import MAX_RETRY_AFTER_SECONDS, parse_retry_after


def test_delta_seconds_dates_and_nonsense() -> None:
    assert parse_retry_after("120") == 120
    assert parse_retry_after(" 7 ") == 7
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("999999999") == MAX_RETRY_AFTER_SECONDS  # never a day's silence
    now = 1_790_000_000.0
    assert parse_retry_after(formatdate(now + 90, usegmt=True), now=now) == 90
    assert parse_retry_after(formatdate(now - 90, usegmt=True), now=now) == 0
