"""worker/metrics.py: the fleet-wide gauges a scrape reads from the database (SQLite)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from tests.conftest import make_settings
from worker import db
from worker.metrics import DatabaseCollector
from worker.models import (
    Article,
    Audio,
    AudioState,
    Delivery,
    DeliveryState,
    Digest,
    Source,
    SourceKind,
    Subscriber,
)
from worker.queues import BULK_QUEUE, TRANSACTIONAL_QUEUE
from worker.settings import Settings

Figures = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(collector: DatabaseCollector) -> Figures:
    out: Figures = {}
    for family in collector.collect():
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def collector_at(settings: Settings, now: list[float] | None = None) -> DatabaseCollector:
    clock = now if now is not None else [0.0]
    return DatabaseCollector(settings, clock=lambda: clock[0])


def ledger(session: Session, day: date, states: list[DeliveryState]) -> int:
    digest = Digest(date=day, subject="Daily")
    session.add(digest)
    session.flush()
    for n, state in enumerate(states):
        sub = Subscriber(email=f"r{day:%d}-{n}@example.net", domain="example.net")
        session.add(sub)
        session.flush()
        session.add(
            Delivery(digest_id=digest.id, subscriber_id=sub.id, state=state, message_id=f"<{n}>")
        )
    session.flush()
    return digest.id


def test_an_empty_database(settings: Settings) -> None:
    figures = scrape(collector_at(settings))
    assert figures[("digestcast_database_up", ())] == 1
    assert figures[("digestcast_deliveries_digest_id", ())] == 0
    for state in DeliveryState:
        assert figures[("digestcast_deliveries", (("state", state.value),))] == 0
    for audio_state in AudioState:
        assert figures[("digestcast_audio", (("state", audio_state.value),))] == 0
    assert figures[("digestcast_db_tts_requests", ())] == 0
    assert figures[("digestcast_sources_failing", ())] == 0
    assert not any(name == "digestcast_audio_by_engine" for name, _ in figures)
    assert not any(name == "digestcast_queue_depth" for name, _ in figures)  # embedded


def test_delivery_figures_are_the_latest_editions(settings: Settings) -> None:
    with db.session_scope(settings) as session:
        ledger(session, date(2026, 11, 26), [DeliveryState.sent] * 5)
        latest = ledger(
            session,
            date(2026, 11, 27),
            [DeliveryState.sent, DeliveryState.failed, DeliveryState.bounced, DeliveryState.queued],
        )
    figures = scrape(collector_at(settings))
    assert figures[("digestcast_deliveries_digest_id", ())] == latest
    assert figures[("digestcast_db_messages_sent", ())] == 1  # not the 5 of the day before
    assert figures[("digestcast_db_messages_failed", ())] == 2  # failed + bounced
    assert figures[("digestcast_deliveries", (("state", "queued"),))] == 1
    assert figures[("digestcast_deliveries", (("state", "suppressed"),))] == 0


def test_audio_engines_and_source_health(settings: Settings) -> None:
    with db.session_scope(settings) as session:
        good = Source(name="Good", url="https://a.example/f", kind=SourceKind.articles)
        bad = Source(
            name="Bad", url="https://b.example/f", kind=SourceKind.articles, consecutive_failures=3
        )
        worse = Source(
            name="Worse",
            url="https://c.example/f",
            kind=SourceKind.articles,
            consecutive_failures=4,
        )
        session.add_all([good, bad, worse])
        session.flush()
        audio = [
            (AudioState.done, "gtts", 3),
            (AudioState.done, "gtts", 2),
            (AudioState.fallback, "espeak", 1),
            (AudioState.failed, None, 4),
        ]
        for n, (state, engine, requests) in enumerate(audio):
            article = Article(
                source_id=good.id, guid=f"g{n}", title="T", slug=f"s{n}", content_hash="0",
                published_at=datetime(2026, 11, 27, 5, tzinfo=UTC),
                published_day=date(2026, 11, 27),
            )  # fmt: skip
            session.add(article)
            session.flush()
            session.add(Audio(article_id=article.id, state=state, engine=engine, requests=requests))
    figures = scrape(collector_at(settings))
    assert figures[("digestcast_audio", (("state", "done"),))] == 2
    assert figures[("digestcast_audio", (("state", "failed"),))] == 1
    assert figures[("digestcast_db_tts_fallbacks", ())] == 1
    assert figures[("digestcast_db_tts_requests", ())] == 10
    assert figures[("digestcast_audio_by_engine", (("engine", "gtts"),))] == 2
    assert figures[("digestcast_audio_by_engine", (("engine", "espeak"),))] == 1
    assert figures[("digestcast_db_source_failures", ())] == 7
    assert figures[("digestcast_sources_failing", ())] == 2


def test_figures_are_kept_for_the_cache_time_then_read_again(settings: Settings) -> None:
    now = [100.0]
    collector = collector_at(settings, now)
    assert scrape(collector)[("digestcast_deliveries_digest_id", ())] == 0
    with db.session_scope(settings) as session:
        latest = ledger(session, date(2026, 11, 27), [DeliveryState.sent])
    now[0] += settings.metrics_cache_seconds - 0.001
    assert scrape(collector)[("digestcast_deliveries_digest_id", ())] == 0  # cached
    now[0] += 0.001
    assert scrape(collector)[("digestcast_deliveries_digest_id", ())] == latest


def test_a_database_down_answers_with_up_0(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "digestcast.db"
    s = make_settings(tmp_path, database_url=f"sqlite:///{missing}")
    collector = DatabaseCollector(s)
    assert list(collector.describe()) == []  # nothing is read before a scrape
    figures = scrape(collector)
    assert figures == {("digestcast_database_up", ()): 0}


def test_a_broker_down_gives_nan_queue_depths(settings: Settings) -> None:
    s = settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
    figures = scrape(collector_at(s))
    assert figures[("digestcast_database_up", ())] == 1
    for queue in (BULK_QUEUE, TRANSACTIONAL_QUEUE):
        assert math.isnan(figures[("digestcast_queue_depth", (("queue", queue),))])


def test_a_broker_that_is_not_redis_has_no_queue_depth(settings: Settings) -> None:
    s = settings.model_copy(update={"broker_url": "amqp://guest@127.0.0.1:1//"})
    figures = scrape(collector_at(s))
    assert not any(name == "digestcast_queue_depth" for name, _ in figures)
