"""Listen counts from the web player's beacons: plays started and quartiles reached.

Pure parsing (`parse_beacon`) and two database edges (`record`, `summary`). A beacon names what
was played and how far, never who: the counters are all that is stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.models import Article, Digest, ListenCount

KINDS = ("article", "edition", "briefing")
EVENTS = ("play", "25", "50", "75", "100")
MAX_BEACON_BYTES = 256
MAX_TARGET_ID = 2**31 - 1


@dataclass(frozen=True)
class Beacon:
    kind: str
    target_id: int
    event: str


def parse_beacon(body: bytes) -> Beacon | None:
    """The beacon in a request body, or None when it is not one (too long, not JSON, odd)."""
    if len(body) > MAX_BEACON_BYTES:
        return None
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    kind, target, event = data.get("kind"), data.get("id"), data.get("event")
    if kind not in KINDS or event not in EVENTS:
        return None
    if isinstance(target, bool) or not isinstance(target, int):
        return None
    if not 0 < target <= MAX_TARGET_ID:
        return None
    return Beacon(kind, target, event)


def target_exists(session: Session, beacon: Beacon) -> bool:
    model = Article if beacon.kind == "article" else Digest
    return session.get(model, beacon.target_id) is not None


def record(session: Session, beacon: Beacon) -> None:
    """Add one to the beacon's counter (an atomic UPDATE; the row is created on first use)."""
    where = (
        (ListenCount.kind == beacon.kind)
        & (ListenCount.target_id == beacon.target_id)
        & (ListenCount.event == beacon.event)
    )
    bump = update(ListenCount).where(where).values(count=ListenCount.count + 1)
    if session.execute(bump).rowcount:  # type: ignore[attr-defined]
        return
    try:
        with session.begin_nested():
            session.add(
                ListenCount(
                    kind=beacon.kind, target_id=beacon.target_id, event=beacon.event, count=1
                )
            )
    except IntegrityError:  # a concurrent first beacon created the row: count on it
        session.execute(bump)


def summary(session: Session, limit: int = 20) -> list[dict[str, Any]]:
    """The most played targets, newest ids first among equals: plays and each quartile."""
    rows = session.execute(
        select(ListenCount.kind, ListenCount.target_id, ListenCount.event, ListenCount.count)
    ).all()
    table: dict[tuple[str, int], dict[str, int]] = {}
    for kind, target, event, count in rows:
        table.setdefault((kind, target), {e: 0 for e in EVENTS})[event] = count
    ordered = sorted(table.items(), key=lambda item: (-item[1]["play"], -item[0][1]))[:limit]
    titles = _titles(session, [t for (k, t), _ in ordered if k == "article"])
    days = _days(session, [t for (k, t), _ in ordered if k != "article"])
    return [
        {
            "kind": kind,
            "id": target,
            "title": titles.get(target, "") if kind == "article" else days.get(target, ""),
            "plays": counts["play"],
            **{f"{q}%": counts[q] for q in EVENTS[1:]},
        }
        for (kind, target), counts in ordered
    ]


def _titles(session: Session, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(Article.id, Article.title).where(Article.id.in_(ids))).all())


def _days(session: Session, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    found = session.execute(select(Digest.id, Digest.date).where(Digest.id.in_(ids))).all()
    return {i: d.isoformat() for i, d in found}


def total_plays(session: Session) -> int:
    query = select(func.coalesce(func.sum(ListenCount.count), 0)).where(ListenCount.event == "play")
    return int(session.scalar(query) or 0)
