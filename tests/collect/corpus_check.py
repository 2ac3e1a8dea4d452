"""The corpus run itself: collect every eligible fixture, then check what came out of it.

Checks: sources that failed, stored titles against feedparser's, and the security invariants
over every stored file and every rendered page of the collected day (digest HTML and text, the
web copy, the archive and every listen page): no `<script`, no `javascript:`, no `on*=`
attribute in a tag.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from tests.collect.corpus_run import Counts, Fixture, serve, sources_toml
from tests.collect.helpers import FeedServer
from tests.conftest import make_settings
from web.app import create_app
from worker import db
from worker.celery_app import configure
from worker.collect.runner import run_collect
from worker.digest.build import build_digest
from worker.digest.content import build_view
from worker.digest.render import render
from worker.models import Article, FeedItem, SkippedItem, Source
from worker.settings import Settings
from worker.storage import LocalStorage

UNSAFE = [
    re.compile(r"<script", re.I),
    re.compile(r"javascript:", re.I),
    re.compile(r"<[^>]*\son[a-z]+\s*=", re.I),  # an event handler attribute inside a tag
]
KINDS = ("articles", "news-feed")


def unsafe(text: str) -> str | None:
    for pattern in UNSAFE:
        found = pattern.search(text)
        if found:
            return text[max(0, found.start() - 40) : found.end() + 40]
    return None


def _collect(fixtures: list[Fixture], settings: Settings) -> list[dict[str, object]]:
    server = FeedServer()
    server.thread.start()
    try:
        entries = []
        for index, fixture in enumerate(fixtures):
            url = serve(server, fixture)
            # the fixtures the issue names go through both stores; the others through one each
            kinds = KINDS if fixture.eligible else KINDS[index % 2 : index % 2 + 1]
            entries += [(f"{fixture.name} [{kind}]", url, kind) for kind in kinds]
        settings.sources.write_text(sources_toml(entries), encoding="utf-8")
        return run_collect(settings)
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def _compare_titles(settings: Settings, fixtures: list[Fixture], counts: Counts) -> None:
    """A stored row's title is one of feedparser's titles for its fixture (decoded alike), or
    made by us for an entry feedparser found no title in."""
    by_name = {f.name: f for f in fixtures}
    with db.session_scope(settings) as session:
        rows: dict[str, list[str]] = {}
        for model in (Article, FeedItem):
            query = select(Source.name, model.title).join(Source, Source.id == model.source_id)
            for name, title in session.execute(query):
                rows.setdefault(name, []).append(title)
    for source_name, titles in rows.items():
        fixture = by_name[source_name.rsplit(" [", 1)[0]]
        if not fixture.reference.get("encoding") or not fixture.titled_entries:
            continue
        expected = fixture.expected_titles()
        untitled = len(fixture.reference.entries) - len(fixture.titled_entries)
        unmatched = [t for t in titles if t not in expected]
        counts.titles_compared += len(titles)
        if len(unmatched) > untitled:
            counts.title_mismatches += [(source_name, t) for t in unmatched]


def _scan_files(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix in (".mp3", ".png"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        values = [text]
        if path.name == "article.json":
            values.append(json.loads(text)["body_html"])
        for value in values:
            if (hit := unsafe(value)) is not None:
                found.append(f"{path.relative_to(root)}: {hit!r}")
    return found


def _render_and_scan(settings: Settings, day_label: str) -> list[str]:
    found: list[str] = []
    storage = LocalStorage(settings.data_dir)
    with db.session_scope(settings) as session:
        articles = list(
            session.scalars(
                select(Article)
                .options(selectinload(Article.audio))
                .order_by(Article.published_at.desc(), Article.id)
            )
        )
        feed = list(session.scalars(select(FeedItem).order_by(FeedItem.published_at.desc())))
        tops = [a for a in articles if not a.editors_pick]
        picks = [a for a in articles if a.editors_pick]
        day = datetime.fromisoformat(day_label).date()
        # every collected story in one email, as the budget trims it, and in full as text
        rendered = render(build_view(settings, day, tops, feed, picks, None), 90_000)
        for what, page in (("email html", rendered.html), ("email text", rendered.text)):
            if (hit := unsafe(page)) is not None:
                found.append(f"{what}: {hit!r}")
        build_digest(session, settings, storage, day)  # the day's real digest and web copy
        ids = [a.id for a in articles]
    with TestClient(create_app(settings), base_url="https://daily.example.org") as client:
        paths = [f"/digests/{day_label}", "/digests/", *(f"/listen/{i}" for i in ids)]
        for path in paths:
            response = client.get(path)
            assert response.status_code < 500, (path, response.status_code)
            if (hit := unsafe(response.text)) is not None:
                found.append(f"{path}: {hit!r}")
    return found + _scan_files(settings.data_dir)


def run_corpus(fixtures: list[Fixture], tmp: Path) -> tuple[Counts, list[str]]:
    """Collect every fixture feedparser reads an entry from into a fresh SQLite database under
    `tmp` (the ones with a titled entry both as articles and as news feed); the counts and the
    unsafe findings."""
    settings = make_settings(tmp, sources=tmp / "sources.toml", collect_concurrency=4)
    db.upgrade(settings)
    configure(settings)
    readable = [f for f in fixtures if f.readable]
    started = datetime.now(settings.tz)
    results = _collect(readable, settings)
    counts = Counts(
        fixtures=len(fixtures),
        eligible=sum(f.eligible for f in fixtures),
        readable=len(readable),
        sources=len(results),
    )
    for result in results:
        if result["ok"]:
            counts.ok += 1
        else:
            counts.failed[str(result["source"])] = str(result["error"])
    with db.session_scope(settings) as session:
        counts.articles = len(session.scalars(select(Article.id)).all())
        counts.feed_items = len(session.scalars(select(FeedItem.id)).all())
        reasons = session.scalars(select(SkippedItem.reason)).all()
    counts.skipped = Counter(r.split(":", 1)[0] for r in reasons)
    _compare_titles(settings, readable, counts)
    findings = _render_and_scan(settings, started.date().isoformat())
    db.get_engine(settings.database_url).dispose()
    return counts, findings
