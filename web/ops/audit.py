"""The audit log: console actions (ops_audit) and every edition transition (edition_events,
written by the lifecycle), newest first, filterable by day (UTC) and by who."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from web.deps import SessionDep
from web.ops.pages import UserDep, page
from worker.models import Digest, EditionEvent
from worker.ops.models import OpsAudit

router = APIRouter()
LIMIT = 300


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(
    request: Request, session: SessionDep, user: UserDep, day: str = "", actor: str = ""
) -> HTMLResponse:
    chosen, who = _day(day), actor.strip()[:320]
    ops = select(OpsAudit).order_by(OpsAudit.id.desc()).limit(LIMIT)
    events = (
        select(EditionEvent, Digest.date)
        .join(Digest, Digest.id == EditionEvent.digest_id)
        .order_by(EditionEvent.id.desc())
        .limit(LIMIT)
    )
    if chosen is not None:
        start = datetime.combine(chosen, time(), tzinfo=UTC)
        end = start + timedelta(days=1)
        ops = ops.where(OpsAudit.at >= start, OpsAudit.at < end)
        events = events.where(EditionEvent.at >= start, EditionEvent.at < end)
    if who:
        ops = ops.where(OpsAudit.actor == who)
        events = events.where(EditionEvent.by == who)
    entries: list[dict[str, Any]] = [
        {
            "at": a.at,
            "who": a.actor,
            "what": a.action,
            "on": a.target,
            "reason": a.reason,
            "result": ("ok" if a.ok else "refused/failed")
            + (f": {a.detail['line']}" if a.detail.get("line") else ""),
        }
        for a in session.scalars(ops)
    ]
    entries += [
        {
            "at": e.at,
            "who": e.by,
            "what": f"edition {e.action}",
            "on": d.isoformat(),
            "reason": e.reason,
            "result": f"{e.from_state or 'not built'} -> {e.to_state}",
        }
        for e, d in session.execute(events).all()
    ]
    entries.sort(key=lambda x: x["at"], reverse=True)
    actors = sorted(set(session.scalars(select(OpsAudit.actor).distinct().limit(200))))
    context = {"entries": entries[:LIMIT], "day": day[:10], "actor": who, "actors": actors}
    return page(request, "ops/audit.html", context, user)
