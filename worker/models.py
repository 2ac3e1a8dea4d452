"""The data model (SQLAlchemy 2). Times are stored in UTC; Kyiv time is a presentation concern.

Each stage owns its tables; a schema change here needs a new migration (`make migration
MESSAGE="..."`); tests/test_db.py fails while models and migrations differ.
"""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class SourceKind(enum.StrEnum):
    articles = "articles"
    news_feed = "news-feed"
    editors_picks = "editors-picks"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # stored as plain strings (no native enum types), so adding a value needs no type migration
    return Enum(
        cls, name=name, native_enum=False, values_callable=lambda e: [m.value for m in e], length=32
    )


# ---------------------------------------------------------------- collect
class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[SourceKind] = mapped_column(_enum(SourceKind, "source_kind"))
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
        _enum(AudioState, "audio_state"), default=AudioState.pending
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


# ---------------------------------------------------------------- subscribers
class SubscriberState(enum.StrEnum):
    pending = "pending"  # double opt-in not confirmed yet
    active = "active"
    unsubscribed = "unsubscribed"


def _new_nonce() -> str:
    return secrets.token_urlsafe(12)


class Subscriber(Base):
    __tablename__ = "subscribers"
    # the ops console's lookup by the start of an address (LIKE 'q%') uses an index on
    # PostgreSQL too, whatever the database's collation
    __table_args__ = (
        Index(
            "ix_subscribers_email_prefix", "email", postgresql_ops={"email": "varchar_pattern_ops"}
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    # lower-case domain of `email`, for per-domain status (slowest / failing domains)
    domain: Mapped[str | None] = mapped_column(String(255), index=True)
    state: Mapped[SubscriberState] = mapped_column(
        _enum(SubscriberState, "subscriber_state"), default=SubscriberState.active
    )
    wants_daily: Mapped[bool] = mapped_column(Boolean, default=True)
    wants_audio_links: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    # bound into this row's unsubscribe/preferences tokens (worker/tokens.py): a person wiped
    # and added again gets a new row and a new nonce, so the old links address nobody. NULL for
    # rows from before migration 0004, whose id-only links keep working.
    token_nonce: Mapped[str | None] = mapped_column(String(32), default=_new_nonce)
    # the outstanding double opt-in: set when a confirmation is mailed, cleared when used
    confirm_nonce: Mapped[str | None] = mapped_column(String(32))


class Subscription(Base):
    """A subscriber's choice of one newsletter (by slug): mailed once confirmed, while
    `left_at` is NULL and the subscriber is active. Asked for on the subscribe form, it waits
    (`confirmed_at` NULL) for the confirmation link, so a stranger cannot add a newsletter to
    someone's mail. Leaving one keeps the others; the global state and the suppression list
    still stop everything."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "newsletter", name="uq_subscriptions_subscriber_nl"),
        Index("ix_subscriptions_newsletter_subscriber", "newsletter", "subscriber_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    newsletter: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]
    # the welcome mail of this subscription went out (once per confirmation)
    welcomed_at: Mapped[datetime | None]


class Suppression(Base):
    """Addresses never mailed again (hard bounces, complaints)."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# ---------------------------------------------------------------- digest
class DigestState(enum.StrEnum):
    """An edition's lifecycle state; worker/edition/core.py says which transitions are allowed."""

    built = "built"
    held = "held"  # built, waiting for an editor's approval (SEND_APPROVAL=required)
    sending = "sending"
    paused = "paused"
    sent = "sent"
    skipped = "skipped"  # not sent by a decision: empty day, quiet-day policy, approval deadline
    missed = "missed"  # the send time passed beyond the catch-up grace without a send
    cancelled = "cancelled"  # stopped by ops: what was sent stays sent, the rest never goes


class Digest(Base):
    """One per (newsletter, Kyiv day), unique so two schedulers can never build or send it
    twice."""

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("newsletter", "date", name="uq_digests_newsletter_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # the newsletter's slug (worker/newsletters.py); "daily" is the one of a setup without a
    # newsletters table, and of every edition made before migration 0009
    newsletter: Mapped[str] = mapped_column(String(64), default="daily", server_default="daily")
    date: Mapped[date] = mapped_column(Date, index=True)
    state: Mapped[DigestState] = mapped_column(
        _enum(DigestState, "digest_state"), default=DigestState.built
    )
    subject: Mapped[str] = mapped_column(Text, default="")
    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime | None]
    article_count: Mapped[int] = mapped_column(Integer, default=0)
    feed_item_count: Mapped[int] = mapped_column(Integer, default=0)
    html_bytes: Mapped[int] = mapped_column(Integer, default=0)
    degradations: Mapped[list[str]] = mapped_column(default=list)
    built_at: Mapped[datetime] = mapped_column(default=utcnow)
    pick_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    send_claimed_at: Mapped[datetime | None]
    # the fan-out created every ledger row (until then the edition cannot be finished)
    fanned_out_at: Mapped[datetime | None]
    # ledger rows created so far, committed with them: the progress total, never a recount
    ledger_rows: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    approved_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    # an editor's changes before sending (worker/digest/editorial.py): story order, dropped
    # stories and news items, subject and preheader; every build applies them
    editorial: Mapped[dict[str, Any] | None]
    # why the edition is in its state when that is not the plain road (skipped, missed, held,
    # paused, cancelled); ops read it in status, the history is in edition_events
    skip_reason: Mapped[str | None] = mapped_column(Text)


class EditionEvent(Base):
    """The audit trail of an edition's lifecycle: every transition, who asked, why, when."""

    __tablename__ = "edition_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    by: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DeliveryState(enum.StrEnum):
    queued = "queued"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    bounced = "bounced"
    suppressed = "suppressed"
    cancelled = "cancelled"  # the edition was cancelled before this row was sent


class Delivery(Base):
    """The ledger: one row per (digest, subscriber), claimed atomically before sending."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("digest_id", "subscriber_id", name="uq_delivery_digest_subscriber"),
        # no (digest_id, state) index: the per-state counts come from delivery_counts, and the
        # few by-state lookups of one edition use the indexes below (a fan-out 30% faster)
        # the reconciler's scans (queued / sending rows of every digest) stay off a full scan;
        # on PostgreSQL only rows in flight are in it, so it stays small however long the
        # ledger (SQLite cannot prove `state = 'queued'` implies the IN list: whole there)
        Index(
            "ix_deliveries_state_dispatched",
            "state",
            "dispatched_at",
            postgresql_where=text("state IN ('queued', 'sending')"),
        ),
        # the ops console's sending rate (rows sent in the last minute) without a scan; sent
        # rows only, so the fan-out's inserts do not touch it
        Index(
            "ix_deliveries_digest_sent_at",
            "digest_id",
            "sent_at",
            postgresql_where=text("sent_at IS NOT NULL"),
            sqlite_where=text("sent_at IS NOT NULL"),
        ),
        # the rows an ops resend queued (their outcome per resend): only those
        Index(
            "ix_deliveries_resend_id",
            "resend_id",
            postgresql_where=text("resend_id IS NOT NULL"),
            sqlite_where=text("resend_id IS NOT NULL"),
        ),
        # ... and its latest failures (a partial index: failed rows only, newest last)
        Index(
            "ix_deliveries_digest_failures",
            "digest_id",
            "id",
            postgresql_where=text("state IN ('failed', 'bounced')"),
            sqlite_where=text("state IN ('failed', 'bounced')"),
        ),
        # `digestcast status`'s slowest domains: the rows that needed a retry, not every row
        Index(
            "ix_deliveries_digest_retried",
            "digest_id",
            "subscriber_id",
            postgresql_where=text("attempts > 1"),
            sqlite_where=text("attempts > 1"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    state: Mapped[DeliveryState] = mapped_column(
        _enum(DeliveryState, "delivery_state"), default=DeliveryState.queued
    )
    message_id: Mapped[str] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    resend_count: Mapped[int] = mapped_column(Integer, default=0)
    # the ops resend that last queued this row again: its outcome is counted per resend
    resend_id: Mapped[int | None] = mapped_column(
        ForeignKey("resends.id", name="fk_deliveries_resend_id")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # when a send_batch task was last dispatched (or is due) for this row: queued rows whose
    # task was lost (worker killed, Redis restarted) are dispatched again after a while
    dispatched_at: Mapped[datetime | None]
    smtp_code: Mapped[int | None] = mapped_column(Integer)

    digest: Mapped[Digest] = relationship()
    subscriber: Mapped[Subscriber] = relationship()


class DeliveryEvent(Base):
    """What happened to a ledger row, for ops: sends, retries, failures, explicit resends."""

    __tablename__ = "delivery_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")


class Resend(Base):
    """One ops resend: who asked, when, why, what was selected (delivery stage)."""

    __tablename__ = "resends"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id"), index=True)
    mode: Mapped[str] = mapped_column(String(16))  # to | failed | all
    target: Mapped[str | None] = mapped_column(String(320))
    requested_by: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    selected: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[datetime] = mapped_column(default=utcnow)


# ---------------------------------------------------------------- listening
class ListenCount(Base):
    """How often something was played and how far (web player beacons): counters only.

    One row per (kind, target, event): kind is "article", "edition" or "briefing", target the
    article's or the digest's id, event "play" or a quartile "25"/"50"/"75"/"100". Nothing
    about who listened is kept (no address, no cookie, no user agent)."""

    __tablename__ = "listen_counts"
    __table_args__ = (
        UniqueConstraint("kind", "target_id", "event", name="uq_listen_counts_kind_target_event"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(8))
    count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# the ops console's and the ledger's summary tables live in their own modules; importing them
# here puts them in the metadata
from worker.delivery import ledger_models as _ledger_models  # noqa: E402,F401
from worker.ops import models as _ops_models  # noqa: E402,F401
