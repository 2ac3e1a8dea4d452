"""Numbers and dates from URLs and headers: ASCII digits only, bounded, never an exception.

`str.isdigit()` is true for "²" and "٣", which `int()` then refuses or reads; and an id past
2**63 overflows the database's integer. Everything a request names goes through here, and what
does not parse is None (the caller answers 404 or 416, never 500).
"""

from __future__ import annotations

import re
from datetime import date

MAX_ID = 2**63 - 1  # the largest value of a database integer id
MAX_DIGITS = 19  # enough for any id or byte offset we serve; longer input is "huge"
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)


def ascii_int(text: str, *, huge: int | None = None) -> int | None:
    """The value of a run of ASCII digits; None for anything else.

    More than MAX_DIGITS digits gives `huge` (None by default): a Range offset past any file
    is still well-formed, an id that long names nothing."""
    if not _DIGITS.fullmatch(text):
        return None
    if len(text) > MAX_DIGITS:
        return huge
    return int(text)


def parse_id(text: str) -> int | None:
    """A row id from a path segment: 1..MAX_ID in ASCII digits, else None."""
    value = ascii_int(text)
    if value is None or not 0 < value <= MAX_ID:
        return None
    return value


def parse_day(text: str) -> date | None:
    """`YYYY-MM-DD` exactly (no week dates, no basic format, no other digits), else None."""
    found = _DAY.fullmatch(text)
    if found is None:
        return None
    try:
        return date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
    except ValueError:
        return None
