"""What every console page shares: who is signed in, the role checks, CSRF, the page CSP.

A GET without a session redirects to the login page; a POST without one, or from a role that
may not, gets 403; every POST must carry the CSRF token (web/security.py, double-submit).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from web.deps import SessionDep, get_settings_from, render
from web.security import CSRF_FIELD, csrf_ok, csrf_token, set_csrf_cookie
from worker.db import session_scope
from worker.models import utcnow
from worker.ops import accounts
from worker.ops.models import OpsUser, Role, allows

SESSION_COOKIE = "dc_ops"
# the console's own script (live figures) and the preview iframe; still nothing inline
OPS_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


# a row id from a URL: bounded, so no number reaches the database that it cannot hold (422)
MAX_ID = 2**62
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
NoteId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


class LoginRequired(Exception):
    """A page asked for without a session: the app answers with the login page's address."""


def now() -> datetime:
    return utcnow()


def _user(request: Request, session: Session, touch: bool) -> OpsUser | None:
    settings = get_settings_from(request)
    return accounts.current(session, settings, request.cookies.get(SESSION_COOKIE), now(), touch)


def viewer(request: Request, session: SessionDep) -> OpsUser:
    """Any signed-in account (a GET page)."""
    user = _user(request, session, touch=True)
    if user is None:
        raise LoginRequired()
    return user


def viewer_quiet(request: Request, session: SessionDep) -> OpsUser:
    """Any signed-in account, without counting the request as activity (the live poll must
    not keep an idle session open); no session: 401."""
    user = _user(request, session, touch=False)
    if user is None:
        raise HTTPException(401, "not signed in")
    return user


UserDep = Annotated[OpsUser, Depends(viewer)]
QuietUserDep = Annotated[OpsUser, Depends(viewer_quiet)]


def require(user: OpsUser | None, role: Role) -> OpsUser:
    if user is None:
        raise HTTPException(403, "sign in first")
    if not allows(user.role, role):
        raise HTTPException(403, f"your role ({user.role}) may not do this; {role} or above may")
    return user


async def checked_form(request: Request) -> dict[str, str]:
    """The POSTed form, after its CSRF token was checked (403 without a valid one)."""
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    if not csrf_ok(request, get_settings_from(request), values.get(CSRF_FIELD)):
        raise HTTPException(403, "missing or invalid CSRF token: reload the page and try again")
    return values


def page(
    request: Request,
    template: str,
    context: dict[str, Any],
    user: OpsUser | None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """A console page: its forms' CSRF token, the signed-in account and what it may do."""
    token = csrf_token(request, get_settings_from(request))
    role = user.role if user is not None else ""
    from web.ops.chosen import switcher

    values = {
        **switcher(request),
        "csrf_token": token,
        "csrf_field": CSRF_FIELD,
        "user": user,
        "can_edit": allows(role, Role.editor),
        "can_operate": allows(role, Role.operator),
        "is_admin": allows(role, Role.admin),
        **context,
    }
    response = render(
        request,
        template,
        values,
        status_code=status_code,
        lang="en",  # the console is in English whatever the browser asks
        headers={"Content-Security-Policy": OPS_CSP, "Cache-Control": "no-store"},
    )
    set_csrf_cookie(response, request, token)
    return response


def signed_in(request: Request, role: Role) -> OpsUser:
    """The account behind a POST, checked for `role`, in a transaction of its own that ends
    here: the lifecycle called next takes its own locks (on SQLite, the database's)."""
    with session_scope(get_settings_from(request)) as session:
        user = require(_user(request, session, touch=True), role)
        session.expunge(user)
    return user


def record(
    request: Request,
    user: OpsUser,
    action: str,
    target: str,
    reason: str,
    ok: bool,
    detail: dict[str, Any] | None = None,
) -> int:
    """Write the console action to the audit log (its own transaction); returns its id."""
    with session_scope(get_settings_from(request)) as session:
        return accounts.audit(session, user.email, action, target, reason, ok, detail).id


def reason_of(form: dict[str, str]) -> str:
    """The typed reason every action asks for (trimmed, bounded; required)."""
    text = " ".join(form.get("reason", "").split())[:500]
    if not text:
        raise HTTPException(400, "give a reason: it is recorded in the audit log")
    return text
