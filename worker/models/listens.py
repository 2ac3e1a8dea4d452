"""Listening counters (web player beacons)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from worker.models.base import Base, utcnow


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
