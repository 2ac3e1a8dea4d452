"""worker/collect/documents.py: an article's `article.json` (metadata plus sanitized body)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from worker.collect.documents import article_document, article_json
from worker.models import Article

KYIV = ZoneInfo("Europe/Kyiv")


def _article(**overrides: object) -> Article:
    values: dict[str, object] = {
        "id": 5,
        "guid": "urn:article:5",
        "slug": "power-restored",
        "title": "Power restored <b>& water</b>",
        "url": "https://news.example.org/a/5",
        "canonical_url": "https://news.example.org/a/5",
        "summary": "Crews worked overnight.",
        "body_html": "<p>Crews &amp; engineers</p><script>x</script>",
        "categories": ["energy"],
        "language": "uk",
        "editors_pick": True,
        "published_at": datetime(2026, 11, 26, 22, 30, tzinfo=UTC),
        "published_day": date(2026, 11, 27),
        "updated_at": None,
        "content_hash": "ab" * 32,
    }
    values.update(overrides)
    return Article(**values)


def test_document_times_are_in_the_newsroom_zone_and_image_is_null_without_one() -> None:
    doc = article_document(_article(), "Ukrinform", KYIV)
    assert doc["published"] == "2026-11-27T00:30:00+02:00"  # the Kyiv day, not the UTC one
    assert doc["published_day"] == "2026-11-27"
    assert doc["updated"] is None
    assert doc["image"] is None and doc["image_url"] is None
    assert doc["source"] == "Ukrinform" and doc["categories"] == ["energy"]


def test_document_with_image_and_update() -> None:
    article = _article(
        image_url="https://img.example.org/5.jpg",
        image_caption="Crews",
        image_credit="Photo: A.",
        updated_at=datetime(2026, 11, 27, 8, 0, tzinfo=UTC),
        categories=None,
    )
    doc = article_document(article, "Ukrinform", KYIV)
    assert doc["image"] == {
        "url": "https://img.example.org/5.jpg",
        "caption": "Crews",
        "credit": "Photo: A.",
    }
    assert doc["updated"] == "2026-11-27T10:00:00+02:00"
    assert doc["categories"] == []


def test_article_json_key_and_markup_safe_bytes_that_parse_back() -> None:
    article = _article()
    key, data = article_json(article, "Укрінформ", KYIV)
    assert key == "articles/2026/11/27/power-restored/article.json"
    text = data.decode("utf-8")
    assert "<" not in text and ">" not in text and "&" not in text
    assert "Укрінформ" in text  # not \u-escaped: ensure_ascii is off
    parsed = json.loads(data)
    assert parsed == article_document(article, "Укрінформ", KYIV)
    assert parsed["title"] == "Power restored <b>& water</b>"
