"""Audio fixtures: the local batchexecute emulator, storage, articles in the database."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.audio.gtts_emulator import Emulator
from worker.audio import gtts_engine, ratelimit
from worker.models import Article, Source, SourceKind
from worker.settings import Settings
from worker.storage import LocalStorage


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    # probe verdicts and shared limiters are per process; every test starts clean
    gtts_engine.reset_probe()
    gtts_engine.close_clients()
    ratelimit._shared.clear()
    yield
    gtts_engine.reset_probe()
    gtts_engine.close_clients()
    ratelimit._shared.clear()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    server = Emulator().start()
    yield server
    server.stop()


@pytest.fixture
def closed_port_url() -> str:
    """A 127.0.0.1 URL where nothing listens (connection refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/_/TranslateWebserverUi/data/batchexecute"


@pytest.fixture
def storage(settings: Settings) -> LocalStorage:
    return LocalStorage(settings.data_dir)


def gtts_settings(settings: Settings, url: str, **extra: Any) -> Settings:
    """`settings` pointed at an emulator, with fast backoff so retries cost milliseconds."""
    values: dict[str, Any] = {
        "gtts_endpoint": url,
        "tts_engine": "auto",
        "gtts_backoff_seconds": 0.001,
        "gtts_backoff_max_seconds": 0.01,
        "gtts_timeout_seconds": 2.0,
        "gtts_probe_timeout_seconds": 1.0,
        "gtts_rate_per_second": 1000.0,
        "gtts_burst": 1000,
    }
    values.update(extra)
    return settings.model_copy(update=values)


ARTICLE_HTML = (
    "<p>Kyiv's energy grid held overnight as engineers restored power to 1,200 homes "
    "15 km from the city centre.</p>"
    "<figure><img src='x.jpg'><figcaption>Engineers at work (caption)</figcaption></figure>"
    "<p>The U.S. pledged $5 million for repairs, officials said on Thursday.</p>"
    "<p>Support our journalism: become a member today.</p>"
)


@pytest.fixture
def make_article(session: Session) -> Callable[..., Article]:
    counter = {"n": 0}

    def make(
        title: str = "Grid holds after night of strikes",
        body_html: str = ARTICLE_HTML,
        language: str = "en",
        day: date = date(2026, 11, 27),
        summary: str = "A summary.",
        **extra: Any,
    ) -> Article:
        counter["n"] += 1
        n = counter["n"]
        source = session.query(Source).filter_by(name="Test source").one_or_none()
        if source is None:
            source = Source(name="Test source", url="file:///x", kind=SourceKind.articles)
            session.add(source)
            session.flush()
        article = Article(
            source_id=source.id,
            guid=f"guid-{n}",
            canonical_url=f"https://news.example.org/a/{n}",
            url=f"https://news.example.org/a/{n}",
            title=title,
            slug=f"article-{n}",
            author="Olena Test",
            summary=summary,
            body_html=body_html,
            language=language,
            published_at=datetime(day.year, day.month, day.day, 6, n % 60, tzinfo=UTC),
            published_day=day,
            content_hash=f"hash-{n}",
            **extra,
        )
        session.add(article)
        session.commit()
        return article

    return make
