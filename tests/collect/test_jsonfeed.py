"""worker/collect/jsonfeed.py: JSON Feed text -> items, field by field (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.collect.helpers import NOW
from worker.collect.items import FeedError, ParsedFeed
from worker.collect.jsonfeed import parse_json_feed
from worker.collect.text import WORD_JOINER

URL = "https://json.example.org/feed.json"
V11 = "https://jsonfeed.org/version/1.1"


def parse(items: list[Any], *, clamp: bool = True, **feed: Any) -> ParsedFeed:
    data = {"version": V11, "title": "Example", "items": items, **feed}
    return parse_json_feed(
        json.dumps(data), url=URL, now=NOW, clamp_future=clamp, namespace="Example"
    )


def test_format_title_and_home_page() -> None:
    feed = parse(
        [{"id": "1", "title": "One"}],
        version="https://jsonfeed.org/version/1",
        title="  Kyiv\u0007 News ",
        home_page_url="/home",
    )
    assert feed.format == "json1"
    assert feed.title == "Kyiv News"
    assert feed.link == "https://json.example.org/home"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "without a JSON Feed version"),
        (json.dumps({"version": "1.1", "items": []}), "without a JSON Feed version"),
        (json.dumps({"version": V11}), "without an items list"),
        (json.dumps({"version": V11, "items": {"a": 1}}), "without an items list"),
        ("[" * 5000 + "]" * 5000, "invalid JSON"),  # RecursionError,
    ],
)
def test_what_is_not_a_feed_is_a_feed_error(text: str, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        parse_json_feed(text, url=URL, now=NOW, clamp_future=True, namespace="x")


def test_a_byte_order_mark_is_read_past() -> None:
    text = "\ufeff" + json.dumps({"version": V11, "items": [{"id": "a", "title": "A"}]})
    feed = parse_json_feed(text, url=URL, now=NOW, clamp_future=True, namespace="x")
    assert [i.title for i in feed.items] == ["A"]


def test_ids_not_uris_are_scoped_by_the_namespace() -> None:
    feed = parse(
        [
            {"id": "post-7", "title": "Seven"},
            {"id": 8, "title": "Eight"},
            {"id": "https://json.example.org/p/9", "title": "Nine"},
        ]
    )
    assert [i.guid for i in feed.items] == [
        "Example:post-7",
        "Example:8",
        "https://json.example.org/p/9",
    ]


def test_a_boolean_or_empty_id_is_no_id_and_the_link_identifies() -> None:
    feed = parse(
        [
            {"id": True, "title": "Bool", "url": "/b"},
            {"id": "", "title": "Empty", "url": "/e"},
        ]
    )
    assert [i.guid for i in feed.items] == [
        "https://json.example.org/b",
        "https://json.example.org/e",
    ]
    assert all(i.raw_guid is None for i in feed.items)


def test_content_html_is_sanitized_and_wins_over_text() -> None:
    (item,) = parse(
        [
            {
                "id": "1",
                "title": "T",
                "content_html": "<p>Hi<script>alert(1)</script></p>",
                "content_text": "ignored",
            }
        ]
    ).items
    assert "<script" not in item.body_html and "alert" not in item.body_html
    assert "Hi" in item.body_html and "ignored" not in item.body_html


def test_content_text_becomes_html_paragraphs_with_markup_escaped() -> None:
    (item,) = parse([{"id": "1", "title": "T", "content_text": "a <b>\n\nsecond"}]).items
    assert "<b>" not in item.body_html and "b&gt;" in item.body_html
    assert item.body_html.count("<p>") == 2
    # the summary is plain text of the body (a word joiner defuses the would-be tag)
    assert item.summary == f"a <{WORD_JOINER}b> second"


def test_external_url_when_there_is_no_url_and_relative_links_resolve() -> None:
    (item,) = parse(
        [{"id": "1", "title": "T", "external_url": "/ext", "image": "img/1.jpg"}],
        home_page_url="https://site.example.org/",
    ).items
    # relative links resolve against the feed's home page when it has one
    assert item.url == "https://site.example.org/ext"
    assert item.image_url == "https://site.example.org/img/1.jpg"


def test_banner_image_when_no_image() -> None:
    (item,) = parse([{"id": "1", "title": "T", "banner_image": "https://cdn.example/b.png"}]).items
    assert item.image_url == "https://cdn.example/b.png"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-27T06:30:00Z", datetime(2026, 11, 27, 6, 30, tzinfo=UTC)),
        ("2026-11-27t06:30:00z", datetime(2026, 11, 27, 6, 30, tzinfo=UTC)),  # RFC 3339 lower
        ("2026-11-27T08:30:00+02:00", datetime(2026, 11, 27, 6, 30, tzinfo=UTC)),
        ("2026-11-27T06:30:00", datetime(2026, 11, 27, 6, 30, tzinfo=UTC)),  # naive: UTC
    ],
)
def test_dates(raw: str, expected: datetime) -> None:
    (item,) = parse([{"id": "1", "title": "T", "date_published": raw}]).items
    assert item.published_at == expected and item.dated


def test_date_modified_when_no_date_published() -> None:
    (item,) = parse([{"id": "1", "title": "T", "date_modified": "2026-11-26T10:00:00Z"}]).items
    assert item.published_at == datetime(2026, 11, 26, 10, tzinfo=UTC)


@pytest.mark.parametrize("raw", ["", "   ", "yesterday", "2026-13-45T00:00:00Z", "1970-01-01"])
def test_an_unusable_date_is_now_and_not_dated(raw: str) -> None:
    (item,) = parse([{"id": "1", "title": "T", "date_published": raw}]).items
    assert item.published_at == NOW and not item.dated


def test_a_future_date_is_clamped_only_when_asked() -> None:
    later = (NOW + timedelta(days=2)).isoformat()
    (clamped,) = parse([{"id": "1", "title": "T", "date_published": later}]).items
    (kept,) = parse([{"id": "1", "title": "T", "date_published": later}], clamp=False).items
    assert clamped.published_at == NOW and not clamped.dated
    assert kept.published_at == NOW + timedelta(days=2) and kept.dated


def test_authors_list_wins_over_the_1_0_author() -> None:
    (both,) = parse(
        [
            {
                "id": "1",
                "title": "T",
                "authors": [{"name": "Anna"}, {"url": "no name"}, "not a dict", {"name": "Ivan"}],
                "author": {"name": "Old"},
            }
        ]
    ).items
    (old,) = parse([{"id": "2", "title": "T", "author": {"name": "Old"}}]).items
    (none,) = parse([{"id": "3", "title": "T", "authors": []}]).items
    assert both.author == "Anna, Ivan"
    assert old.author == "Old"
    assert none.author is None


def test_a_long_author_list_is_cut_to_200_characters() -> None:
    authors = [{"name": f"Author number {n}"} for n in range(40)]
    (item,) = parse([{"id": "1", "title": "T", "authors": authors}]).items
    assert item.author is not None and len(item.author) == 200


def test_tags_keep_non_empty_strings_up_to_20() -> None:
    tags: list[Any] = ["war", "", 5, None, "energy"] + [f"t{n}" for n in range(30)]
    (item,) = parse([{"id": "1", "title": "T", "tags": tags}]).items
    assert item.categories[:2] == ["war", "energy"]
    assert len(item.categories) == 20
    (no_list,) = parse([{"id": "2", "title": "T", "tags": "war"}]).items
    assert no_list.categories == []


def test_empty_and_odd_entries_are_skipped_with_a_reason_and_the_rest_kept() -> None:
    feed = parse([{"id": "e1"}, "a string", 42, {"id": "ok", "title": "Kept"}])
    assert [i.title for i in feed.items] == ["Kept"]
    assert [s.guid for s in feed.skipped] == ["Example:e1", "Example:entry-2", "Example:entry-3"]
    assert all(s.reason.startswith("empty entry") for s in feed.skipped)


def test_non_string_fields_are_ignored_not_fatal() -> None:
    (item,) = parse(
        [{"id": "1", "title": 5, "summary": ["x"], "url": {"a": 1}, "content_text": "Body"}]
    ).items
    assert item.url is None
    assert item.title == "Body"  # no usable title: the text stands in for it


def test_an_entry_with_only_a_link_is_kept_and_titled_by_it() -> None:
    (item,) = parse([{"url": "https://json.example.org/only-link"}]).items
    assert item.title == "json.example.org/only-link"
    assert item.guid == "https://json.example.org/only-link"


def test_content_hash_is_set_and_follows_the_text() -> None:
    a, b = parse(
        [
            {"id": "1", "title": "T", "content_text": "x"},
            {"id": "2", "title": "T", "content_text": "y"},
        ]
    ).items
    assert a.content_hash and b.content_hash and a.content_hash != b.content_hash
