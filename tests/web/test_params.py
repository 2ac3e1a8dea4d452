"""web/params.py: what a URL or header names parses to a bounded value or None, never raises."""

from __future__ import annotations

from datetime import date

import pytest

from web.params import MAX_DIGITS, MAX_ID, ascii_int, parse_day, parse_id


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", 0), ("42", 42), ("007", 7), ("", None), ("-1", None), ("²", None), ("٣", None)],
)
def test_ascii_int_reads_ascii_digits_only(text: str, expected: int | None) -> None:
    assert ascii_int(text) == expected


def test_ascii_int_past_max_digits_gives_huge() -> None:
    long = "9" * (MAX_DIGITS + 1)
    assert ascii_int(long) is None
    assert ascii_int(long, huge=-1) == -1
    assert ascii_int("9" * MAX_DIGITS) == int("9" * MAX_DIGITS)


@pytest.mark.parametrize("text", ["0", "", "abc", "1.0", " 1", str(MAX_ID + 1), "1" * 25])
def test_parse_id_refuses_what_names_no_row(text: str) -> None:
    assert parse_id(text) is None


def test_parse_id_accepts_one_to_max_id() -> None:
    assert parse_id("1") == 1
    assert parse_id(str(MAX_ID)) == MAX_ID


def test_parse_day_exact_iso_days_only() -> None:
    assert parse_day("2026-11-27") == date(2026, 11, 27)
    for text in ("2026-02-30", "2026-13-01", "20261127", "2026-W48-5", "2026-11-2", "２026-11-27"):
        assert parse_day(text) is None, text
