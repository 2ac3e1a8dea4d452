"""The ledger's summary tables: per-state counters and the totals of pruned editions.

worker/schema.py gathers them with the other tables for the migrations (and tests/test_db.py).
The counters are kept by database triggers on `deliveries` (migration 0010; the SQL is in
worker/delivery/counters.py), so every statement that inserts, moves or deletes rows updates
them in its own transaction, whatever code path ran it (lifecycle, worker, reconciler, ops).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from worker.models import Base, utcnow


class DeliveryCount(Base):
    """How many ledger rows an edition has in one state: `digestcast status` and the ops
    console read these (a few dozen rows) instead of counting a million.

    On PostgreSQL each (digest, state) is split over `shard` = delivery id % 16, so two workers
    recording outcomes at once rarely wait on the same counter row; readers sum the shards."""

    __tablename__ = "delivery_counts"

    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(32), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(Integer, default=0)


class EditionTotal(Base):
    """What is kept of an edition's ledger once `digestcast db prune` dropped its rows: the
    rows per state at that moment ({state: rows})."""

    __tablename__ = "edition_totals"

    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id"), primary_key=True)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    pruned_at: Mapped[datetime] = mapped_column(default=utcnow)
