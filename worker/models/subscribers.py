"""The list: subscribers, their newsletter subscriptions, the suppression list."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from worker.models.base import Base, str_enum, utcnow


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
        str_enum(SubscriberState, "subscriber_state"), default=SubscriberState.active
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
