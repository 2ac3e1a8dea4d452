"""Recipients: lookup, the subscriber page (ledger rows, events, suppression) with its
buttons, and the resend page (one address, the failed ones, everyone: dry run first).

Resends go through lifecycle.resend, as the CLI and the /admin/ API do.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

import web.ops.chosen as chosen
from web.deps import SessionDep, get_settings_from
from web.ops.pages import (
    NoteId,
    RowId,
    UserDep,
    checked_form,
    page,
    reason_of,
    record,
    require,
    signed_in,
)
from web.ops.today import unfinished
from worker import db, newsletters
from worker.delivery import subscriber_csv
from worker.delivery import subscribers as subscriber_list
from worker.edition.lookup import DEFAULT_SLUG, edition_path, find
from worker.models import Digest, Resend, Subscriber
from worker.ops import people
from worker.ops.models import Role

router = APIRouter()
MODES = {"to": "one address", "failed": "the failed ones", "all": "everyone"}


@router.get("/subscribers", response_class=HTMLResponse, include_in_schema=False)
def lookup(request: Request, session: SessionDep, user: UserDep, q: str = "") -> HTMLResponse:
    found = people.lookup(session, q)
    context = {"q": q[:320], "found": found, "limit": people.LIMIT}
    return page(request, "ops/subscribers.html", context, user)


def _subscriber(session: Session, sid: int) -> Subscriber:
    sub = session.get(Subscriber, sid)
    if sub is None:
        raise HTTPException(404, "no such subscriber (wiped, or never was)")
    return sub


@router.get("/subscribers/{sid}", response_class=HTMLResponse, include_in_schema=False)
def subscriber_page(
    request: Request, sid: RowId, session: SessionDep, user: UserDep, note: NoteId = None
) -> HTMLResponse:
    sub = _subscriber(session, sid)
    # every newsletter's recent editions: "ukrainian/2026-11-27" names another newsletter's
    names = _names(request)
    editions = session.execute(
        select(Digest.newsletter, Digest.date)
        .order_by(Digest.date.desc(), Digest.newsletter)
        .limit(30 * len(names))
    ).all()
    context = {
        "sub": sub,
        "rows": people.history(session, sid),
        "suppression": people.suppression(session, sub.email),
        "days": [(edition_path(slug, d), _label(names, slug, d)) for slug, d in editions],
        "first": chosen.first(get_settings_from(request)),
        "note": _note(session, user, note),
    }
    return page(request, "ops/subscriber.html", context, user)


def _note(session: Any, user: Any, note: int | None) -> Any:
    from worker.ops.models import OpsAudit

    row = session.get(OpsAudit, note) if note else None
    return row if row is not None and row.actor == user.email else None


@router.get("/subscribers/{sid}/export.json", include_in_schema=False)
def export(request: Request, sid: RowId, session: SessionDep, user: UserDep) -> Response:
    """Everything held about the person (a data-subject access request), as a download."""
    require(user, Role.operator)
    sub = _subscriber(session, sid)
    data = subscriber_csv.export_person(session, sub.email)
    from worker.ops import accounts

    accounts.audit(session, user.email, "subscriber-export", sub.email)
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="subscriber-{sid}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/subscribers/{sid}/resend", include_in_schema=False)
async def resend_one(request: Request, sid: RowId) -> Response:
    from worker.edition import lifecycle

    form = await checked_form(request)
    user = signed_in(request, Role.operator)
    reason = reason_of(form)
    slug, _, when = form.get("day", "").rpartition("/")
    day = _day(when)
    try:
        settings = newsletters.scoped(get_settings_from(request), slug or DEFAULT_SLUG)
    except newsletters.NewsletterError as exc:
        raise HTTPException(400, str(exc)) from None
    email = _email_of(request, sid)
    try:
        result = lifecycle.resend(settings, day, to=email, requested_by=user.email, reason=reason)
    except Exception as exc:  # the broker is down while dispatching...: say so, record it
        result = {"refused": unfinished(exc)}
    note = record(
        request, user, "resend-to", email, reason, "refused" not in result, _brief(result, day)
    )
    return RedirectResponse(f"/ops/subscribers/{sid}?note={note}", status_code=303)


@router.post("/subscribers/{sid}/unsuppress", include_in_schema=False)
async def unsuppress(request: Request, sid: RowId) -> Response:
    form = await checked_form(request)
    user = signed_in(request, Role.admin)
    reason = reason_of(form)
    email = _email_of(request, sid)
    with db.session_scope(get_settings_from(request)) as session:
        was = people.unsuppress(session, email)
    detail = {"line": f"suppression lifted (was: {was})" if was else "was not suppressed"}
    note = record(request, user, "unsuppress", email, reason, was is not None, detail)
    return RedirectResponse(f"/ops/subscribers/{sid}?note={note}", status_code=303)


@router.post("/subscribers/{sid}/wipe", include_in_schema=False)
async def wipe(request: Request, sid: RowId) -> Response:
    """Erase the person (GDPR): their row and ledger history; a suppression entry stays so
    no later import mails them. The address must be typed again to confirm."""
    form = await checked_form(request)
    user = signed_in(request, Role.admin)
    reason = reason_of(form)
    email = _email_of(request, sid)
    if form.get("confirm", "").strip().lower() != email:
        raise HTTPException(400, "type the subscriber's address to confirm the wipe")
    with db.session_scope(get_settings_from(request)) as session:
        done = subscriber_list.remove(session, email, wipe=True)
    # the audit keeps the subscriber's id, not the address it just erased
    record(request, user, "wipe", f"subscriber #{sid}", reason, done, {"line": "wiped"})
    return RedirectResponse("/ops/subscribers", status_code=303)


def _email_of(request: Request, sid: RowId) -> str:
    with db.session_scope(get_settings_from(request)) as session:
        sub = session.get(Subscriber, sid)
        if sub is None:
            raise HTTPException(404, "no such subscriber")
        return sub.email


def _names(request: Request) -> dict[str, str]:
    return {n.slug: n.name for n in newsletters.all_newsletters(get_settings_from(request))}


def _label(names: dict[str, str], slug: str, day: date) -> str:
    return day.isoformat() + (f" · {names.get(slug, slug)}" if len(names) > 1 else "")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise HTTPException(400, "choose an edition date (YYYY-MM-DD)") from None


def _brief(result: dict[str, Any], day: date) -> dict[str, Any]:
    if "refused" in result:
        line = f"{day.isoformat()}: refused: {result['refused']}"
    elif result.get("dry_run"):
        line = f"{day.isoformat()}: dry run, {result.get('selected', 0)} would be sent again"
    else:
        line = f"{day.isoformat()}: {result.get('selected', 0)} queued again"
    return {"line": line, "resend_id": result.get("resend_id"), "day": day.isoformat()}


# ---------------------------------------------------------------- the resend page
@router.get("/editions/{day}/resend", response_class=HTMLResponse, include_in_schema=False)
def resend_page(request: Request, day: date, session: SessionDep, user: UserDep) -> HTMLResponse:
    require(user, Role.operator)
    digest = find(session, chosen.key(request, day))
    if digest is None:
        raise HTTPException(404, f"no edition for {day.isoformat()}")
    resends = list(
        session.scalars(
            select(Resend).where(Resend.digest_id == digest.id).order_by(Resend.id.desc()).limit(10)
        )
    )
    context = {"day": day.isoformat(), "modes": MODES, "dry": None, "resends": resends}
    return page(request, "ops/resend.html", context, user)


@router.post("/editions/{day}/resend", include_in_schema=False)
async def resend(request: Request, day: date) -> Response:
    """Step 1 (`step=dry-run`): the count and a sample, nothing sent. Step 2 (`step=send`,
    with the typed reason): the rows are queued again and the edition page shows progress."""
    from worker.edition import lifecycle

    form = await checked_form(request)
    user = signed_in(request, Role.operator)
    mode = form.get("mode", "")
    if mode not in MODES:
        raise HTTPException(400, "choose to one address, the failed ones, or everyone")
    to = form.get("to", "").strip()[:320] if mode == "to" else None
    if mode == "to" and not to:
        raise HTTPException(400, "give the address to resend to")
    dry = form.get("step") != "send"
    reason = "" if dry else reason_of(form)
    try:
        result = lifecycle.resend(
            chosen.settings_for(request),
            day,
            to=to,
            failed=mode == "failed",
            everyone=mode == "all",
            dry_run=dry,
            requested_by=user.email,
            reason=reason,
        )
    except Exception as exc:  # the broker is down while dispatching...: say so, record it
        result = {"refused": unfinished(exc)}
    action = "resend-dry-run" if dry else f"resend-{mode}"
    ok = "refused" not in result
    note = record(request, user, action, to or mode, reason, ok, _brief(result, day))
    if dry and ok:
        context: dict[str, Any] = {"day": day.isoformat(), "modes": MODES, "dry": result}
        context.update(mode=mode, to=to, resends=[])
        return page(request, "ops/resend.html", context, user)
    return RedirectResponse(chosen.edition_url(request, day, note=note), status_code=303)
