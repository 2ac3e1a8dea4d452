"""Property: any feed bytes either yield sanitized items or a recorded source error, never an
exception out of collect_source (nor out of the collect.source task)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.collect.helpers import CORPUS
from worker import db
from worker.collect.collector import collect_source
from worker.collect.sources import sync_sources
from worker.collect.tasks import collect_source_task
from worker.collect.text import ALLOWED_TAGS
from worker.models import Article, FeedItem, Source
from worker.settings import Settings
from worker.storage import LocalStorage

SEEDS = [p.read_bytes() for p in sorted(CORPUS.iterdir()) if p.is_file()]
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
TAG = re.compile(r"<\s*([a-zA-Z0-9]+)([^>]*)>")


def assert_safe_html(body: str) -> None:
    """Only allowlisted tags, no event handlers, no script URLs (nh3 is not idempotent on
    mis-nested input, so this checks the properties rather than a fixpoint)."""
    for name, attrs in TAG.findall(body):
        assert name.lower() in ALLOWED_TAGS, name
        assert not re.search(r"\son\w+\s*=", attrs, re.I), attrs
        assert "javascript:" not in attrs.lower() and "style" not in attrs.lower(), attrs
    assert not re.search(r"[\x00-\x08\x0b\x0e-\x1f\x7f]", body)


@st.composite
def feed_bytes(draw: st.DrawFn) -> bytes:
    """Random bytes, or a corpus feed with a random cut, insertion or byte flip."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=2000))
    seed = draw(st.sampled_from(SEEDS))
    start = draw(st.integers(0, len(seed)))
    end = draw(st.integers(start, min(len(seed), start + 400)))
    junk = draw(
        st.one_of(
            st.binary(max_size=60),
            st.sampled_from(
                [b"<script>x()</script>", b"&#13;&#10;Bcc: x@y", b"]]>", b"<!ENTITY a 'b'>",
                 b"\xff\xfe", b"&xxe;", b"<item><title>T</title></item>", b"\x00"]
            ),
        )
    )  # fmt: skip
    return seed[:start] + junk + seed[end:]


def _setup(settings: Settings, tmp_path: Path) -> tuple[Settings, Path, int]:
    feed = tmp_path / "feeds" / "fuzz.xml"
    feed.parent.mkdir(parents=True, exist_ok=True)
    feed.write_bytes(b"")
    sources = tmp_path / "sources.toml"
    sources.write_text(
        '[[source]]\nname = "Fuzz"\nurl = "feeds/fuzz.xml"\nkind = "articles"\nlocal = true\n'
        '[[source]]\nname = "Fuzz news"\nurl = "feeds/fuzz.xml"\nkind = "news-feed"\nlocal = true\n'
    )
    s = settings.model_copy(update={"sources": sources, "source_max_failures": 10_000})
    with db.session_scope(s) as session:
        ids = [x.id for x in sync_sources(session, s)]
    return s, feed, ids[0]


@hsettings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=feed_bytes())
def test_any_bytes_are_items_or_a_recorded_error(
    settings: Settings, tmp_path: Path, data: bytes
) -> None:
    s, feed, source_id = _setup(settings, tmp_path)
    feed.write_bytes(data)
    storage = LocalStorage(s.data_dir)
    with db.session_scope(s) as session:
        for source in session.scalars(select(Source)):
            source.last_modified = None  # always parse, even within the same mtime second
            result = collect_source(session, s, storage, source.id)
            session.refresh(source)
            if result.ok:
                assert source.consecutive_failures == 0
            else:
                assert result.error and source.last_error == result.error
                assert not CONTROL.search(result.error)
        for article in session.scalars(select(Article)):
            assert not CONTROL.search(article.title + article.summary)
            assert_safe_html(article.body_html)
            assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", article.slug)
            doc = json.loads((s.data_dir / article.storage_prefix / "article.json").read_text())
            assert doc["content_hash"] == article.content_hash
        for item in session.scalars(select(FeedItem)):
            assert not CONTROL.search(item.title + item.summary)
    assert source_id


def test_the_task_returns_a_result_for_bad_input(settings: Settings, tmp_path: Path) -> None:
    s, feed, source_id = _setup(settings, tmp_path)
    feed.write_bytes(b"\x00garbage")
    from worker.celery_app import configure

    configure(s)
    result = collect_source_task.delay(source_id).get()
    assert result["ok"] is False and result["source"] == "Fuzz"
    assert str(result["error"]).startswith("not a feed")
    missing = collect_source_task.delay(999_999).get()
    assert missing == {**missing, "ok": False, "error": "no such source"}
