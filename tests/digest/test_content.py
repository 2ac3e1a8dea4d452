"""worker/digest/content.py: the text and URL guards every digest field goes through."""

from __future__ import annotations

from datetime import date

import pytest

from worker.digest.content import PLACEHOLDERS, date_label, minutes, plain, safe_url, text1


def test_text1_makes_one_line_and_breaks_placeholder_markers() -> None:
    assert text1(None) == "" and text1("") == ""
    assert text1("  Power\r\nrestored\t\x00 in\u2028Kyiv  ") == "Power restored in Kyiv"
    assert text1("<b>stays literal</b>") == "<b>stays literal</b>"
    for placeholder in PLACEHOLDERS:
        assert placeholder not in text1(f"see {placeholder}")
    assert text1("a@@b") == "a@ @b"


def test_plain_drops_tags_and_parts_words_at_blocks() -> None:
    assert plain(None) == ""
    assert plain("<p>First</p><p>second <b>bold</b></p>") == "First second bold"
    assert plain("one<br>two") == "one two"
    assert "@@" not in plain("<p>@@DC_GREETING@@</p>")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://news.example.org/a?b=1", "https://news.example.org/a?b=1"),
        ("  HTTP://example.org/x  ", "HTTP://example.org/x"),
        (
            "https://evil.example/?u=@@DC_UNSUBSCRIBE_URL@@",
            "https://evil.example/?u=@%40DC_UNSUBSCRIBE_URL@%40",
        ),
        ("javascript:alert(1)", None),
        ("//example.org/x", None),
        ("https:///nohost", None),
        ("https://example.org/a b", None),
        ("https://example.org/\x07", None),
        ("https://[::1", None),  # urlsplit refuses it
        ("", None),
        (None, None),
    ],
)
def test_safe_url(url: str | None, expected: str | None) -> None:
    assert safe_url(url) == expected


def test_minutes_rounds_and_never_says_zero() -> None:
    assert minutes(None) is None and minutes(0) is None and minutes(-5) is None
    assert minutes(10) == 1  # a short clip is still "1 min"
    assert minutes(89) == 1 and minutes(91) == 2
    assert minutes(3600) == 60


def test_date_label_in_the_readers_language() -> None:
    assert date_label(date(2026, 11, 27)) == "Friday, 27 November 2026"
    assert date_label(date(2026, 11, 27), "uk") == "пʼятниця, 27 листопада 2026"
