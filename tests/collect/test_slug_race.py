"""Slugs stay unique when sources with the same headlines are collected at once: threads on
SQLite and PostgreSQL, and separate worker processes on PostgreSQL."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from tests.collect.helpers import feed_file, write_sources
from worker import db
from worker.collect.runner import active_source_ids, run_collect
from worker.models import Article, SkippedItem
from worker.settings import Settings

SOURCES = 4
ROUNDS = 20
# the same headlines in every source, one of them twice in the same feed
TITLES = ["Kyiv morning", "Power grid repaired", "Kyiv morning", "Talks resume", "Київ уранці"]


def feed(source: int, round_: int) -> bytes:
    items = "".join(
        f"<item><title>{title}</title><guid isPermaLink='false'>s{source}-r{round_}-{i}</guid>"
        f"<link>https://s{source}.example.org/{round_}/{i}</link>"
        "<pubDate>Thu, 26 Nov 2026 08:00:00 GMT</pubDate><description>Text.</description></item>"
        for i, title in enumerate(TITLES)
    )
    return (
        f"<rss version='2.0'><channel><title>S{source}</title>"
        f"<link>https://s{source}.example.org/</link>{items}</channel></rss>"
    ).encode()


def publish(settings: Settings, round_: int) -> Settings:
    specs = [
        {
            "name": f"S{n}",
            "url": feed_file(settings, f"s{n}.xml", feed(n, round_)),
            "kind": "articles",
        }
        for n in range(SOURCES)
    ]
    return write_sources(settings, *({**spec, "kind": "articles"} for spec in specs))


def check(settings: Settings, rounds: int) -> None:
    with db.session_scope(settings) as session:
        total = session.scalar(select(func.count(Article.id)))
        slugs = session.execute(select(Article.published_day, Article.slug)).all()
        skipped = session.scalars(select(SkippedItem.reason)).all()
    assert skipped == []
    assert total == rounds * SOURCES * len(TITLES)
    assert len(set(slugs)) == len(slugs)  # the constraint holds, and nothing was lost to it


def test_same_titles_from_four_sources_at_once(any_db_settings: Settings) -> None:
    settings = any_db_settings.model_copy(update={"collect_concurrency": SOURCES})
    for round_ in range(ROUNDS):
        settings = publish(settings, round_)
        results = run_collect(settings)
        assert [r["ok"] for r in results] == [True] * SOURCES, results
        assert sum(len(r["new_articles"]) for r in results) == SOURCES * len(TITLES)
    check(settings, ROUNDS)


def _collect_in_worker(job: tuple[str, int]) -> dict[str, object]:
    """One worker process collecting one source (as `collect.source` on a Celery worker)."""
    settings_json, source_id = job
    from worker.collect.runner import collect_one
    from worker.storage import get_storage

    settings = Settings.model_validate_json(settings_json)
    db.get_engine(settings.database_url).dispose(close=False)  # never the parent's connections
    return collect_one(settings, get_storage(settings), source_id)


@pytest.fixture
def pool() -> Iterator[multiprocessing.pool.Pool]:
    # forked: the workers start with the modules loaded (spawning imports them all again)
    with multiprocessing.get_context("fork").Pool(SOURCES) as workers:
        yield workers


def test_same_titles_from_four_worker_processes(
    pg_url: str, tmp_path: object, pool: multiprocessing.pool.Pool
) -> None:
    from pathlib import Path

    from tests.conftest import make_settings

    settings = make_settings(Path(str(tmp_path)), database_url=pg_url)
    db.upgrade(settings)
    db.get_engine(settings.database_url).dispose()
    rounds = ROUNDS
    for round_ in range(rounds):
        settings = publish(settings, round_)
        ids = active_source_ids(settings)
        jobs = [(settings.model_dump_json(), sid) for sid in ids]
        results = pool.map(_collect_in_worker, jobs, chunksize=1)
        assert [r["ok"] for r in results] == [True] * SOURCES, results
    check(settings, rounds)
    db.get_engine(settings.database_url).dispose()
