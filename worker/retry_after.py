"""Retry-After (RFC 9110 §10.2.3), read the same way for feeds and for Google's TTS endpoint."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

# a server may ask for a pause, but never for more than a day of silence
MAX_RETRY_AFTER_SECONDS = 86400.0


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from delta-seconds or an HTTP date (a past date: 0), capped at a day;
    None when the header is absent or unreadable. `now` is a Unix time (tests)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)
