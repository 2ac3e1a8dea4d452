"""Today (/ops/) and the editions (/ops/editions/YYYY-MM-DD): state, ledger counts, rate,
ETA, errors grouped by reply code and domain, and the buttons the lifecycle allows.

Every button opens a confirmation page asking for a reason; its POST calls the edition
lifecycle (worker/edition/lifecycle.py), the one road, and writes the audit log.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select

import web.ops.chosen as chosen
from web.deps import SessionDep, get_settings_from
from web.ops.pages import (
    NoteId,
    QuietUserDep,
    UserDep,
    checked_form,
    page,
    reason_of,
    record,
    require,
    signed_in,
)
from worker.edition.lookup import find
from worker.models import Digest, utcnow
from worker.ops import today
from worker.ops.models import OpsAudit, Role

log = logging.getLogger(__name__)
router = APIRouter()
ActionName = Literal["start", "approve", "pause", "resume", "cancel"]
NEEDS: dict[str, Role] = {
    "start": Role.operator,
    "pause": Role.operator,
    "resume": Role.operator,
    "cancel": Role.operator,
    "approve": Role.editor,
}
WARNINGS = {
    "start": "Every subscriber who has not had this edition gets it now.",
    "approve": "The edition goes out at the send time (at once if that has passed).",
    "pause": "Batches stop within about a second; nothing is lost, resume sends on.",
    "resume": "Sending continues exactly where it stopped.",
    "cancel": "Final: rows not sent yet are cancelled and never sent. Resend is still possible "
    "for rows that were sent.",
}


def unfinished(exc: Exception) -> str:
    """The line shown when a lifecycle call failed half-way (its state change is committed
    first; the reconciler, every minute, dispatches what could not be)."""
    return (
        f"failed: {type(exc).__name__}: {str(exc)[:200]}; what the lifecycle recorded stands, "
        "and the reconciler dispatches what is left within a minute once the cause is fixed"
    )


def _today(request: Request) -> date:
    return datetime.now(get_settings_from(request).tz).date()


def _edition_page(
    request: Request, session: Any, user: Any, digest: Digest | None, note: int | None
) -> HTMLResponse:
    context: dict[str, Any] = {"digest": digest, "labels": today.LABELS, "note": None}
    context["latest_failures"] = today.LATEST_FAILURES
    if digest is not None:
        context["s"] = today.summary(session, digest, utcnow())
    if note:
        row = session.get(OpsAudit, note)
        if row is not None and row.actor == user.email:
            context["note"] = row
    context["recent"] = list(
        session.scalars(
            select(Digest)
            .where(Digest.newsletter == chosen.slug(request))
            .order_by(Digest.date.desc())
            .limit(7)
        )
    )
    return page(request, "ops/today.html", context, user)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def today_page(
    request: Request, session: SessionDep, user: UserDep, note: NoteId = None
) -> HTMLResponse:
    digest = today.current(session, _today(request), chosen.slug(request))
    return _edition_page(request, session, user, digest, note)


@router.get("/editions/", response_class=HTMLResponse, include_in_schema=False)
def editions(request: Request, session: SessionDep, user: UserDep) -> HTMLResponse:
    rows = list(
        session.scalars(
            select(Digest)
            .where(Digest.newsletter == chosen.slug(request))
            .order_by(Digest.date.desc())
            .limit(120)
        )
    )
    return page(request, "ops/editions.html", {"editions": rows}, user)


@router.get("/editions/{day}", response_class=HTMLResponse, include_in_schema=False)
def edition_page(
    request: Request, day: date, session: SessionDep, user: UserDep, note: NoteId = None
) -> HTMLResponse:
    digest = find(session, chosen.key(request, day))
    if digest is None:
        raise HTTPException(404, f"no edition for {day.isoformat()}")
    return _edition_page(request, session, user, digest, note)


@router.get("/editions/{day}/live.json", include_in_schema=False)
def live(request: Request, day: date, session: SessionDep, user: QuietUserDep) -> JSONResponse:
    """The page's changing figures, polled by ops.js every few seconds."""
    digest = find(session, chosen.key(request, day))
    if digest is None:
        raise HTTPException(404, "no edition for that day")
    figures = today.summary(session, digest, utcnow(), details=False).live()
    return JSONResponse(figures, headers={"Cache-Control": "no-store"})


@router.get("/editions/{day}/{action}", response_class=HTMLResponse, include_in_schema=False)
def confirm_page(
    request: Request, day: date, action: ActionName, session: SessionDep, user: UserDep
) -> HTMLResponse:
    require(user, NEEDS[action])
    digest = find(session, chosen.key(request, day))
    context = {
        "day": day.isoformat(),
        "action": action,
        "label": today.LABELS[action],
        "warning": WARNINGS[action],
        "state": today.state_of(digest),
        "allowed": action in today.allowed(digest),
    }
    return page(request, "ops/confirm.html", context, user)


@router.post("/editions/{day}/{action}", include_in_schema=False)
async def act(request: Request, day: date, action: ActionName) -> Response:
    """Call the lifecycle; its refusal (one line) is shown and recorded like a success."""
    from worker.digest.tasks import builder
    from worker.edition import lifecycle

    form = await checked_form(request)
    user = signed_in(request, NEEDS[action])
    reason = reason_of(form)
    settings = chosen.settings_for(request)  # the lifecycle's key is the chosen newsletter's
    by = user.email
    calls = {
        "start": lambda: lifecycle.start(settings, day, by=by, reason=reason, builder=builder()),
        "approve": lambda: lifecycle.approve(
            settings, day, by=by, reason=reason, builder=builder()
        ),
        "pause": lambda: lifecycle.pause(settings, day, by=by, reason=reason),
        "resume": lambda: lifecycle.resume(settings, day, by=by, reason=reason),
        "cancel": lambda: lifecycle.cancel(settings, day, by=by, reason=reason),
    }
    try:
        outcome = calls[action]()
        ok, detail = outcome.ok, {"line": outcome.line(), "to_state": outcome.to_state}
    except Exception as exc:  # e.g. the broker is down while dispatching: say so, record it
        log.exception("ops console: %s of %s failed", action, day)
        ok, detail = False, {"line": unfinished(exc)}
    note = record(request, user, f"edition-{action}", day.isoformat(), reason, ok, detail)
    return RedirectResponse(chosen.edition_url(request, day, note=note), status_code=303)
