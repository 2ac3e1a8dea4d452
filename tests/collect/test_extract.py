"""worker/collect/extract.py: the main text of an article page, sanitized, or None.

Full-text collection end to end (budget, deferral, keeping) is in test_extract_tasks.py.
"""

from __future__ import annotations

import pytest

from tests.collect.helpers import FeedServer, Route
from tests.collect.test_extract_tasks import PARAGRAPH, page
from worker.collect.extract import MIN_TEXT, extract_main_html, fetch_full_text
from worker.collect.fetch import FetchError, FetchLimits
from worker.collect.text import html_to_text


def test_page_as_text_and_the_headline_is_not_repeated() -> None:
    body = extract_main_html(page("Heating plan").decode(), "https://city.example.org/s")
    assert body is not None
    assert "Heating plan" not in body  # the page's own <h1> repeats our title
    assert len(html_to_text(body)) >= MIN_TEXT


def test_short_main_text_is_a_stub_not_an_article() -> None:
    words = "Paywall stub text. " * 8
    short = f"<html><body><article><p>{words}</p></article></body></html>"
    assert len(words) < MIN_TEXT
    assert extract_main_html(short, "https://a.example/") is None


def test_empty_and_non_html_pages() -> None:
    assert extract_main_html(b"", "https://a.example/") is None
    assert extract_main_html("just text, no markup", "https://a.example/") is None


def test_fetch_full_text_from_a_local_server(feed_server: FeedServer) -> None:
    feed_server.routes["/story"] = Route(body=page("Heating plan"), content_type="text/html")
    body = fetch_full_text(feed_server.url("/story"), local=True, limits=FetchLimits(timeout=10))
    assert body is not None and "engineers presented a plan" in body
    assert PARAGRAPH.split(",")[0] in body


def test_fetch_full_text_raises_for_a_missing_page(feed_server: FeedServer) -> None:
    with pytest.raises(FetchError):
        fetch_full_text(feed_server.url("/missing"), local=True, limits=FetchLimits(timeout=10))
