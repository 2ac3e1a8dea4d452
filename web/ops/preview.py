"""Preview and test send: the edition as mailed in sandboxed iframes at 375 and 680 px, its
text part, its size against the budget with the trimming steps taken, and "send a test to"."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

import web.ops.chosen as chosen
from web.deps import SessionDep
from web.ops.pages import NoteId, UserDep, checked_form, page, record, signed_in
from worker import db
from worker.ops import preview as previews
from worker.ops.models import OpsAudit, Role
from worker.storage import get_storage

router = APIRouter()
# the mailed HTML inside the console's iframe: its inline styles, remote images, no script,
# framed by the console only, and sandboxed again by the header in case it is opened alone
FRAME_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; font-src https:; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox"
)


@router.get("/editions/{day}/preview", response_class=HTMLResponse, include_in_schema=False)
def preview_page(
    request: Request, day: date, session: SessionDep, user: UserDep, note: NoteId = None
) -> HTMLResponse:
    settings = chosen.settings_for(request)
    try:
        shown = previews.preview(session, settings, get_storage(settings), day)
    except previews.NotBuilt as exc:
        raise HTTPException(404, str(exc)) from None
    row = session.get(OpsAudit, note) if note else None
    context = {
        "day": day.isoformat(),
        "p": shown,
        "widths": (375, 680),
        "note": row if row is not None and row.actor == user.email else None,
    }
    return page(request, "ops/preview.html", context, user)


@router.get("/editions/{day}/email.html", include_in_schema=False)
def email_html(request: Request, day: date, session: SessionDep, user: UserDep) -> Response:
    settings = chosen.settings_for(request)
    try:
        shown = previews.preview(session, settings, get_storage(settings), day)
    except previews.NotBuilt as exc:
        raise HTTPException(404, str(exc)) from None
    headers = {
        "Content-Security-Policy": FRAME_CSP,
        "X-Frame-Options": "SAMEORIGIN",
        "Cache-Control": "no-store",
    }
    return HTMLResponse(shown.html, headers=headers)


@router.post("/editions/{day}/test-send", include_in_schema=False)
async def test_send(request: Request, day: date) -> Response:
    form = await checked_form(request)
    user = signed_in(request, Role.operator)
    to = form.get("to", "").strip()[:320]
    settings = chosen.settings_for(request)
    try:
        with db.session_scope(settings) as session:
            line = previews.send_test(session, settings, get_storage(settings), day, to, user.email)
        ok = line.startswith("sent")
    except previews.NotBuilt as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:  # not an address (InvalidAddress)
        raise HTTPException(400, f"{to!r} is not an address: {exc}") from None
    except Exception as exc:  # the relay refused or is down: say so, record it
        ok, line = False, f"{type(exc).__name__}: {exc}"
    note = record(request, user, "test-send", to, "", ok, {"line": line, "day": day.isoformat()})
    return RedirectResponse(chosen.edition_url(request, day, "/preview", note), 303)
