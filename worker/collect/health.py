"""Source health for ops (`digestcast sources list|check|resume`, `digestcast status`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.collect import skipped
from worker.collect.collector import fetch_and_parse
from worker.collect.fetch import FetchError
from worker.collect.parse import FeedError
from worker.models import Source
from worker.settings import Settings


def source_health(session: Session) -> list[dict[str, Any]]:
    """One JSON-safe row per source in the database, enabled first, by name. A source whose
    feed is read is healthy even when some of its entries were skipped (`skipped` counts them;
    `skipped_items` lists them with the reasons)."""
    rows = session.scalars(select(Source).order_by(Source.enabled.desc(), Source.name))
    skips = skipped.counts(session)
    return [
        {
            "id": s.id,
            "name": s.name,
            "kind": s.kind.value,
            "url": s.url,
            "enabled": s.enabled,
            "last_success_at": s.last_success_at.isoformat() if s.last_success_at else None,
            "last_error": s.last_error,
            "last_error_at": s.last_error_at.isoformat() if s.last_error_at else None,
            "consecutive_failures": s.consecutive_failures,
            "paused": s.paused_at is not None,
            "paused_at": s.paused_at.isoformat() if s.paused_at else None,
            "healthy": s.enabled and s.paused_at is None and not s.consecutive_failures,
            "skipped": skips.get(s.id, 0),
        }
        for s in rows
    ]


def skipped_items(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """The latest entries that could not be stored, with source, title and reason."""
    return skipped.recent(session, limit)


def check_source(session: Session, settings: Settings, name: str) -> dict[str, Any]:
    """Fetch and parse one source now (unconditionally), store nothing; report items or error."""
    source = session.scalar(select(Source).where(Source.name == name))
    if source is None:
        return {"name": name, "ok": False, "error": f"no source named {name!r}", "items": 0}
    # a detached copy without validators, so the check always sees the body
    probe = Source(
        name=source.name,
        url=source.url,
        kind=source.kind,
        local=source.local,
        language=source.language,
        options=dict(source.options or {}),
    )
    try:
        _, feed = fetch_and_parse(probe, settings, datetime.now(UTC))
    except (FetchError, FeedError) as exc:
        return {"name": name, "ok": False, "error": str(exc), "items": 0}
    except Exception as exc:  # a check reports; it never crashes the CLI
        return {"name": name, "ok": False, "error": f"{type(exc).__name__}: {exc}", "items": 0}
    return {
        "name": name,
        "ok": True,
        "error": None,
        "items": len(feed.items),
        "titles": [i.title for i in feed.items[:5]],
        "encoding": feed.encoding or None,
        "empty_entries": len(feed.skipped),
    }


def resume_source(session: Session, name: str) -> bool:
    """Unpause a source and reset its failure count; False when there is no such source."""
    source = session.scalar(select(Source).where(Source.name == name))
    if source is None:
        return False
    source.paused_at = None
    source.consecutive_failures = 0
    session.flush()
    return True
