"""The sources file: validation with file/line/name in errors, relative URLs, upsert by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import EXAMPLES
from worker import db
from worker.collect.sources import SourcesError, load_sources, parse_sources, sync_sources
from worker.models import Source, SourceKind
from worker.settings import Settings

GOOD = """
[[source]]
name = "Remote"
url = "https://news.example.org/feed/"
kind = "articles"
language = "uk"
full_text = true
include_categories = ["War", "Politics"]

[[source]]
name = "Local file"
url = "feeds/news.xml"
kind = "news-feed"
local = true
"""


def test_parse_good_file_and_resolve_relative_urls(tmp_path: Path) -> None:
    specs = parse_sources(GOOD, base_dir=tmp_path)
    remote, local = specs
    assert remote.url == "https://news.example.org/feed/"
    assert remote.kind is SourceKind.articles and remote.language == "uk" and remote.full_text
    assert remote.options()["include_categories"] == ["war", "politics"]
    assert local.url == (tmp_path / "feeds/news.xml").as_uri()
    assert local.url.startswith("file:///") and local.local


def test_bundled_examples_parse() -> None:
    specs = load_sources(EXAMPLES / "sources.toml")
    assert {s.kind for s in specs} == set(SourceKind)
    assert all(s.url.startswith("file://") and s.local for s in specs)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('name = "X"\nurl = "https://a.example/"\nkind = "podcast"', "kind"),
        ('name = "X"\nkind = "articles"', "url: Field required"),
        ('name = "X"\nurl = "feeds/x.xml"\nkind = "articles"', "need `local = true`"),
        ('name = "X"\nurl = "ftp://a.example/f"\nkind = "articles"', "scheme 'ftp'"),
        ('name = "X"\nurl = "https:///nohost"\nkind = "articles"', "has no host"),
        ('name = "X"\nurl = "https://a.example/"\nkind = "articles"\ncolour = 1', "colour"),
        ('name = "X"\nurl = "https://a.example/"\nkind = "articles"\nlanguage = "../"', "language"),
        ('name = "X\\r\\nY"\nurl = "https://a.example/"\nkind = "articles"', "control"),
    ],
)
def test_bad_entries_name_line_and_source(tmp_path: Path, entry: str, message: str) -> None:
    text = '[[source]]\nname = "Fine"\nurl = "https://ok.example/"\nkind = "articles"\n\n'
    text += "# the bad one\n[[source]]\n" + entry + "\n"
    with pytest.raises(SourcesError) as info:
        parse_sources(text, base_dir=tmp_path, filename="s.toml")
    error = str(info.value)
    assert "s.toml:7: source #2" in error and message in error
    assert "Fine" not in error


def test_duplicate_names_and_bad_toml(tmp_path: Path) -> None:
    text = '[[source]]\nname = "A"\nurl = "https://a.example/"\nkind = "articles"\n' * 2
    with pytest.raises(SourcesError, match="duplicate name"):
        parse_sources(text, base_dir=tmp_path)
    with pytest.raises(SourcesError, match="not valid TOML"):
        parse_sources("[[source]\nname=", base_dir=tmp_path)
    with pytest.raises(SourcesError, match="cannot read sources file"):
        load_sources(tmp_path / "missing.toml")


def test_sync_upserts_by_name_and_disables_removed(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_text(GOOD)
    s = settings.model_copy(update={"sources": path})
    with db.session_scope(s) as session:
        first = sync_sources(session, s)
        assert [x.name for x in first] == ["Remote", "Local file"]
        remote = first[0]
        remote.etag, remote.consecutive_failures = '"v1"', 2
    path.write_text(GOOD.replace("https://news.example.org/feed/", "https://news.example.org/rss"))
    with db.session_scope(s) as session:
        again = sync_sources(session, s)
        remote = again[0]
        assert remote.url == "https://news.example.org/rss"
        assert remote.etag is None  # validators belong to the old URL
        assert remote.consecutive_failures == 2  # health survives a sync
    path.write_text(GOOD.split('[[source]]\nname = "Local file"')[0])
    with db.session_scope(s) as session:
        assert [x.name for x in sync_sources(session, s)] == ["Remote"]
        gone = session.scalar(select(Source).where(Source.name == "Local file"))
        assert gone is not None and not gone.enabled
