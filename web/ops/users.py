"""Accounts (admins): list, add with a one-time set-password link, reset (new link, lock
lifted, sessions ended), change role, remove. The same functions as `digestcast ops-user`.
A link is shown once, on the answer to the POST, and never written to the audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from web.deps import SessionDep, get_settings_from
from web.ops.pages import NoteId, UserDep, checked_form, page, reason_of, record, require, signed_in
from worker import db
from worker.models import utcnow
from worker.ops import accounts
from worker.ops.models import OpsAudit, OpsUser, Role

router = APIRouter()


def _listing(request: Request, user: OpsUser, extra: dict[str, Any]) -> HTMLResponse:
    with db.session_scope(get_settings_from(request)) as session:
        users = list(session.scalars(select(OpsUser).order_by(OpsUser.email)))
        session.expunge_all()
    context = {"users": users, "roles": list(Role), "now": utcnow(), "link": None}
    context["link_hours"] = get_settings_from(request).ops_setup_link_hours
    context.update(extra)
    return page(request, "ops/users.html", context, user)


@router.get("/users", response_class=HTMLResponse, include_in_schema=False)
def users_page(
    request: Request, session: SessionDep, user: UserDep, note: NoteId = None
) -> HTMLResponse:
    require(user, Role.admin)
    row = session.get(OpsAudit, note) if note else None
    mine = row if row is not None and row.actor == user.email else None
    return _listing(request, user, {"note": mine})


@router.post("/users", include_in_schema=False)
async def users_action(request: Request) -> Response:
    form = await checked_form(request)
    admin = signed_in(request, Role.admin)
    action, email = form.get("action", ""), form.get("email", "").strip()[:320]
    settings = get_settings_from(request)
    link = None
    try:
        with db.session_scope(settings) as session:
            if action == "add":
                target = accounts.add(session, email, form.get("role", ""))
                link = accounts.setup_link(settings, target)
                line = f"{target.email}: {target.role} account created"
            elif action == "reset":
                target = accounts.reset(session, email, role=form.get("role") or None)
                link = accounts.setup_link(settings, target)
                line = f"{target.email}: {target.role}, new link, sessions ended, unlocked"
            elif action == "remove":
                reason_of(form)
                if accounts.get(session, email) is not None and email.lower() == admin.email:
                    raise accounts.AccountError("you cannot remove your own account")
                if not accounts.remove(session, email):
                    raise accounts.AccountError(f"{email}: no such account")
                line = f"{email}: removed, its sessions ended"
            else:
                raise HTTPException(400, "unknown action")
    except accounts.AccountError as exc:
        note = record(request, admin, f"ops-user-{action}", email, "", False, {"line": str(exc)})
        return RedirectResponse(f"/ops/users?note={note}", status_code=303)
    reason = form.get("reason", "")[:500]
    note_row = record(request, admin, f"ops-user-{action}", email, reason, True, {"line": line})
    if link is None:
        return RedirectResponse(f"/ops/users?note={note_row}", status_code=303)
    with db.session_scope(settings) as session:
        shown = session.get(OpsAudit, note_row)
        session.expunge_all()
    return _listing(request, admin, {"note": shown, "link": link})
