"""Editions and their ledger: digests, lifecycle events, deliveries, delivery events, resends."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from worker.models.base import Base, str_enum, utcnow
from worker.models.partitions import ensure as ensure_partition
from worker.models.subscribers import Subscriber


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
        str_enum(DigestState, "digest_state"), default=DigestState.built
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


def _edition_date(context: Any) -> date:
    """A row inserted without its edition's date (tests, one-off inserts) gets its digest's."""
    digest_id = context.get_current_parameters()["digest_id"]
    found = context.connection.scalar(select(Digest.date).where(Digest.id == digest_id))
    if found is None:
        raise ValueError(f"no digest {digest_id} for a ledger row")
    ensure_partition(context.connection, found)  # on PostgreSQL a row needs its month
    return found  # type: ignore[no-any-return]


class Delivery(Base):
    """The ledger: one row per (digest, subscriber), claimed atomically before sending.

    On PostgreSQL the table is partitioned by month of `edition_date` (migration 0011,
    worker/models/partitions.py), so its primary key there is (id, edition_date) and every
    unique key carries the date too; `id` alone still names a row (one sequence)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint(
            "digest_id", "subscriber_id", "edition_date", name="uq_delivery_digest_subscriber"
        ),
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
    # no foreign keys to digests and subscribers: their per-row checks were half the cost of
    # the fan-out's insert (16 of 33 ms per 2,000 rows at a million subscribers). Every row is
    # made from the subscriber and digest rows in the same statement (fan-out) or session
    # (resend), digests are never deleted, and a wipe deletes a person's rows first.
    digest_id: Mapped[int] = mapped_column(Integer)
    subscriber_id: Mapped[int] = mapped_column(Integer)
    # the digest's date, the partition key: a function of digest_id, kept on the row
    edition_date: Mapped[date] = mapped_column(Date, default=_edition_date)
    state: Mapped[DeliveryState] = mapped_column(
        str_enum(DeliveryState, "delivery_state"), default=DeliveryState.queued
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

    digest: Mapped[Digest] = relationship(primaryjoin="Digest.id == foreign(Delivery.digest_id)")
    subscriber: Mapped[Subscriber] = relationship(
        primaryjoin="Subscriber.id == foreign(Delivery.subscriber_id)"
    )


class DeliveryEvent(Base):
    """What happened to a ledger row, for ops: sends, retries, failures, explicit resends."""

    __tablename__ = "delivery_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    # no foreign key: PostgreSQL cannot point one at a partitioned table's `id` alone; prune
    # and a wipe delete a row's events before the row
    delivery_id: Mapped[int] = mapped_column(Integer, index=True)
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
