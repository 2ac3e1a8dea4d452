"""worker/collect/store.py: article items planned, then written once, updated on change."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.collect.items import ParsedItem
from worker.collect.store import (
    apply_articles,
    chunks,
    entry_hash,
    error_reason,
    isolated,
    plan_articles,
)
from worker.models import Article, Source, SourceKind

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
KYIV = ZoneInfo("Europe/Kyiv")


def _source(session: Session, name: str, *, full_text: bool = False) -> Source:
    source = Source(
        name=name, url=f"https://{name}.example/feed", kind=SourceKind.articles, full_text=full_text
    )
    session.add(source)
    session.flush()
    return source


def _item(guid: str, url: str | None, title: str = "Power restored") -> ParsedItem:
    return ParsedItem(
        guid=guid,
        url=url,
        canonical_url=url,
        title=title,
        summary="",
        body_html="<p>Crews worked overnight to restore power across the city.</p>",
        published_at=NOW,
    ).finish()


def test_entry_hash_follows_every_field_the_feed_gives() -> None:
    item = _item("g1", "https://example.org/a")
    same = dataclasses.replace(item, published_at=datetime(2020, 1, 1, tzinfo=UTC))
    assert entry_hash(same) == entry_hash(item)  # the date alone is not the entry's content
    for change in (
        {"title": "Other"},
        {"summary": "x"},
        {"url": "https://example.org/b"},
        {"author": "A"},
        {"categories": ["energy"]},
        {"image_credit": "Photo"},
    ):
        assert entry_hash(dataclasses.replace(item, **change)) != entry_hash(item), change


def test_chunks() -> None:
    assert chunks([]) == []
    assert chunks(["a", "b", "c"], size=2) == [["a", "b"], ["c"]]


def test_error_reason_names_the_database_error_not_the_wrapper() -> None:
    wrapped = IntegrityError("INSERT ...", {}, ValueError("UNIQUE constraint failed: x"))
    assert error_reason(wrapped) == "ValueError: UNIQUE constraint failed: x"
    assert error_reason(RuntimeError("boom")) == "RuntimeError: boom"


def test_isolated_rolls_back_only_the_failed_write(session: Session) -> None:
    def fail() -> None:
        session.add(Source(name="gone", url="https://gone.example/feed", kind=SourceKind.articles))
        raise ValueError("bad item")

    kept = _source(session, "kept")
    error = isolated(session, fail)
    assert isinstance(error, ValueError)
    assert isolated(session, lambda: None) is None
    names = session.scalars(select(Source.name)).all()
    assert names == [kept.name]


def test_new_articles_are_stored_with_their_documents_then_left_alone(session: Session) -> None:
    source = _source(session, "wire")
    items = [_item("g1", "https://example.org/a"), _item("g2", "https://example.org/b", "Bridge")]
    first = apply_articles(session, source, plan_articles(session, source, items), KYIV, NOW)
    assert [a.guid for a in first.new_articles] == ["g1", "g2"]
    assert sorted(key for _, key, _ in first.documents) == [
        "articles/2026/11/27/bridge/article.json",
        "articles/2026/11/27/power-restored/article.json",
    ]
    again = apply_articles(session, source, plan_articles(session, source, items), KYIV, NOW)
    assert again.new_articles == [] and again.updated_articles == []
    assert sorted(again.stored_guids) == ["g1", "g2"]
    edited = [_item("g1", "https://example.org/a", "Power restored in Kharkiv")]
    out = apply_articles(session, source, plan_articles(session, source, edited), KYIV, NOW)
    assert [a.title for a in out.updated_articles] == ["Power restored in Kharkiv"]
    assert session.query(Article).count() == 2


def test_the_same_url_under_two_guids_in_one_feed_is_one_article(session: Session) -> None:
    source = _source(session, "wire")
    items = [_item("g1", "https://example.org/a"), _item("g1-again", "https://example.org/a")]
    out = apply_articles(session, source, plan_articles(session, source, items), KYIV, NOW)
    assert len(out.new_articles) == 1
    assert session.query(Article).count() == 1


@pytest.mark.parametrize("full_text", [True, False])
def test_plan_asks_for_full_text_only_for_new_or_changed_linked_items(
    session: Session, full_text: bool
) -> None:
    source = _source(session, "summaries", full_text=full_text)
    linked, unlinked = _item("g1", "https://example.org/a"), _item("g2", None, "No link")
    plans = plan_articles(session, source, [linked, unlinked])
    assert [p.needs_full_text for p in plans] == [full_text, False]
    apply_articles(session, source, plans, KYIV, NOW)
    assert not any(p.needs_full_text for p in plan_articles(session, source, [linked]))
