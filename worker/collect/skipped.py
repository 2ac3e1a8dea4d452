"""Entries that could not be stored, with the reason, for ops (`sources list`, `status`).

One row per (source, entry GUID): a run that skips it again bumps `times` and `last_seen_at`;
a run that stores it (or no longer sees the problem) removes the row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from worker.collect.items import SkippedEntry
from worker.collect.text import clean_text
from worker.models import SkippedItem, Source


def record(
    session: Session,
    source_id: int,
    skipped: list[SkippedEntry],
    stored_guids: Iterable[str],
    now: datetime,
) -> None:
    """Upsert this run's skipped entries of a source; forget the ones stored now."""
    stored = set(stored_guids) - {s.guid for s in skipped}
    for chunk in _chunks(sorted(stored)):
        session.execute(
            delete(SkippedItem).where(
                SkippedItem.source_id == source_id, SkippedItem.guid.in_(chunk)
            )
        )
    if not skipped:
        return
    by_guid = {s.guid: s for s in skipped}
    existing: dict[str, SkippedItem] = {}
    for chunk in _chunks(sorted(by_guid)):
        query = select(SkippedItem).where(
            SkippedItem.source_id == source_id, SkippedItem.guid.in_(chunk)
        )
        existing.update({row.guid: row for row in session.scalars(query)})
    for guid, entry in by_guid.items():
        row = existing.get(guid)
        if row is None:
            row = SkippedItem(source_id=source_id, guid=guid, first_seen_at=now, times=0)
            session.add(row)
        row.title = clean_text(entry.title, limit=300)
        row.url = entry.url
        row.reason = clean_text(entry.reason, limit=1000)
        row.last_seen_at = now
        row.times = (row.times or 0) + 1


def _chunks(values: list[str], size: int = 500) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def counts(session: Session) -> dict[int, int]:
    """Skipped entries per source id."""
    query = select(SkippedItem.source_id, func.count(SkippedItem.id)).group_by(
        SkippedItem.source_id
    )
    return {source_id: n for source_id, n in session.execute(query)}


def recent(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """The latest skipped entries, newest first, JSON-safe."""
    query = (
        select(SkippedItem, Source.name)
        .join(Source, Source.id == SkippedItem.source_id)
        .order_by(SkippedItem.last_seen_at.desc(), SkippedItem.id.desc())
        .limit(limit)
    )
    return [
        {
            "source": name,
            "title": row.title,
            "url": row.url,
            "reason": row.reason,
            "times": row.times,
            "first_seen_at": row.first_seen_at.isoformat(),
            "last_seen_at": row.last_seen_at.isoformat(),
        }
        for row, name in session.execute(query)
    ]
