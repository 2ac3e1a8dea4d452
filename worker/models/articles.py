"""Collect and audio tables: sources, their articles and news-feed items, skipped entries, audio."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from worker.models.base import Base, str_enum, utcnow


class SourceKind(enum.StrEnum):
    articles = "articles"
    news_feed = "news-feed"
    editors_picks = "editors-picks"


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[SourceKind] = mapped_column(str_enum(SourceKind, "source_kind"))
    language: Mapped[str] = mapped_column(String(16), default="en")
    full_text: Mapped[bool] = mapped_column(Boolean, default=False)
    local: Mapped[bool] = mapped_column(Boolean, default=False)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # conditional GET
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    # health
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    paused_at: Mapped[datetime | None]
    # the server asked us to wait (429/503 Retry-After): not fetched before then, not a failure
    retry_after: Mapped[datetime | None]
    # false once the source is no longer in the sources file (kept for its articles' history)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")


class Article(Base):
    """A long article (from an `articles` source) or an editors' pick."""

    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("published_day", "slug", name="uq_articles_day_slug"),
        Index("ix_articles_canonical_url", "canonical_url"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    guid: Mapped[str] = mapped_column(String(1000), unique=True)
    # both None for an entry without a link (RSS, JSON Feed and Atom with content allow it)
    canonical_url: Mapped[str | None] = mapped_column(String(2000))
    url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    slug: Mapped[str] = mapped_column(String(80))
    author: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    image_url: Mapped[str | None] = mapped_column(Text)
    image_caption: Mapped[str | None] = mapped_column(Text)
    image_credit: Mapped[str | None] = mapped_column(Text)
    categories: Mapped[list[str]] = mapped_column(default=list)
    language: Mapped[str] = mapped_column(String(16), default="en")
    editors_pick: Mapped[bool] = mapped_column(Boolean, default=False)
    published_at: Mapped[datetime]
    # the Kyiv calendar day of publication: the storage folder and slug uniqueness scope
    published_day: Mapped[date] = mapped_column(Date)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]
    content_hash: Mapped[str] = mapped_column(String(64))
    # hash of the feed entry as given (before full-text extraction): the page is refetched
    # only when this changes
    feed_hash: Mapped[str | None] = mapped_column(String(64))
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digests.id"))

    source: Mapped[Source] = relationship()
    audio: Mapped[Audio | None] = relationship(back_populates="article", uselist=False)

    @property
    def storage_prefix(self) -> str:
        d = self.published_day
        return f"articles/{d:%Y/%m/%d}/{self.slug}"


class FeedItem(Base):
    """A short item of the running news feed."""

    __tablename__ = "feed_items"
    __table_args__ = (Index("ix_feed_items_canonical_url", "canonical_url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    guid: Mapped[str] = mapped_column(String(1000), unique=True)
    canonical_url: Mapped[str | None] = mapped_column(String(2000))  # None: the entry had no link
    url: Mapped[str | None] = mapped_column(Text)  # the entry's link, else the feed's own link
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime]
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]
    content_hash: Mapped[str] = mapped_column(String(64))
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digests.id"))

    source: Mapped[Source] = relationship()


class SkippedItem(Base):
    """A feed entry that could not be stored (the rest of its feed was): shown to ops with the
    reason, one row per (source, entry), removed once the entry is stored."""

    __tablename__ = "skipped_items"
    __table_args__ = (UniqueConstraint("source_id", "guid", name="uq_skipped_items_source_guid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    guid: Mapped[str] = mapped_column(String(1000))
    title: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    times: Mapped[int] = mapped_column(Integer, default=1)  # runs that skipped it

    source: Mapped[Source] = relationship()


# ---------------------------------------------------------------- audio
class AudioState(enum.StrEnum):
    pending = "pending"
    done = "done"
    fallback = "fallback"  # spoken by the offline engine; to be upgraded to gTTS later
    failed = "failed"


class Audio(Base):
    __tablename__ = "audio"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), unique=True)
    state: Mapped[AudioState] = mapped_column(
        str_enum(AudioState, "audio_state"), default=AudioState.pending
    )
    engine: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(16), default="en")
    text_hash: Mapped[str | None] = mapped_column(String(64))
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    bytes: Mapped[int | None] = mapped_column(Integer)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    article: Mapped[Article] = relationship(back_populates="audio")
