"""Web fixtures: an app on the test settings, a client, rows and files to serve."""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from datetime import UTC, date, datetime

import lameenc
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session

from tests.web.browsing import browser, inbox, live, pw  # noqa: F401 (fixtures for the web tests)
from web.app import create_app
from worker import db
from worker.models import (
    Article,
    Audio,
    AudioState,
    Digest,
    DigestState,
    Source,
    SourceKind,
    Subscriber,
    SubscriberState,
)
from worker.settings import Settings
from worker.storage import LocalStorage
from worker.subscriptions import join

ADMIN_TOKEN = "test-admin-token"
DAY = date(2026, 11, 27)


def tone_mp3(seconds: float = 3.0, rate: int = 22050, freq: float = 440.0) -> bytes:
    """A real MP3 (sine tone, lameenc) that browsers decode and mutagen measures."""
    samples = int(seconds * rate)
    pcm = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * i / rate)))
        for i in range(samples)
    )
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(64)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(7)
    return bytes(encoder.encode(pcm) + encoder.flush())


@pytest.fixture(scope="session")
def mp3_bytes() -> bytes:
    return tone_mp3(3.0)


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})


@pytest.fixture
def client(web_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(web_settings), base_url="https://daily.example.org") as c:
        yield c


@pytest.fixture
def storage(web_settings: Settings) -> LocalStorage:
    return LocalStorage(web_settings.data_dir)


def add_subscriber(
    settings: Settings, email: str, state: SubscriberState = SubscriberState.active
) -> int:
    with db.session_scope(settings) as session:
        sub = Subscriber(email=email, state=state)
        session.add(sub)
        session.flush()
        if state == SubscriberState.active:
            join(session, sub.id, ["daily"])
        return sub.id


def subscriber_token(settings: Settings, subscriber_id: int) -> str:
    """The row's unsubscribe/preferences token, as its mail carries it (bound to its nonce)."""
    from worker.tokens import unsubscribe_token

    return unsubscribe_token(
        settings, subscriber_id, get_subscriber(settings, subscriber_id).token_nonce
    )


def get_subscriber(settings: Settings, subscriber_id: int) -> Subscriber:
    with db.session_scope(settings) as session:
        sub = session.get(Subscriber, subscriber_id)
        assert sub is not None
        session.expunge(sub)
        return sub


def add_article_with_audio(
    session: Session,
    storage: LocalStorage,
    mp3: bytes,
    *,
    title: str = "Kyiv's power grid holds through the cold snap",
    url: str = "https://news.example.org/grid",
    body_html: str = "<p>First paragraph about the grid.</p><p>Second paragraph.</p>",
    vtt: bool = True,
    digest: Digest | None = None,
) -> Article:
    source = session.query(Source).filter_by(name="Sample").one_or_none()
    if source is None:
        source = Source(name="Sample", url="file:///dev/null", kind=SourceKind.articles)
        session.add(source)
        session.flush()
    n = session.query(Article).count() + 1
    article = Article(
        source_id=source.id,
        guid=f"guid-{n}",
        canonical_url=url,
        url=url,
        title=title,
        slug=f"article-{n}",
        summary="A summary.",
        body_html=body_html,
        published_at=datetime(2026, 11, 27, 5, 0, tzinfo=UTC),
        published_day=DAY,
        content_hash="0" * 64,
        digest_id=digest.id if digest is not None else None,
    )
    session.add(article)
    session.flush()
    session.add(
        Audio(
            article_id=article.id,
            state=AudioState.done,
            engine="espeak",
            duration_seconds=3.0,
            bytes=len(mp3),
            requests=2,
        )
    )
    session.flush()
    storage.write_bytes(f"{article.storage_prefix}/audio.mp3", mp3)
    if vtt:
        storage.write_bytes(
            f"{article.storage_prefix}/audio.vtt",
            b"WEBVTT\n\n00:00.000 --> 00:02.000\nFirst paragraph about the grid.\n",
        )
    return article


def add_digest(
    session: Session,
    storage: LocalStorage,
    day: date = DAY,
    state: DigestState = DigestState.sent,
) -> Digest:
    """An edition with its web copy; sent (so public) unless the test says otherwise."""
    digest = Digest(date=day, subject=f"Ukraine Daily, {day:%d %B}", article_count=1, state=state)
    session.add(digest)
    session.flush()
    storage.write_bytes(
        f"digests/{day.isoformat()}/digest.html",
        b"<!doctype html><html><body><h1>Ukraine Daily</h1><p>web copy</p></body></html>",
    )
    return digest


@pytest.fixture
def article_id(web_settings: Settings, storage: LocalStorage, mp3_bytes: bytes) -> int:
    with db.session_scope(web_settings) as session:
        return add_article_with_audio(session, storage, mp3_bytes).id
