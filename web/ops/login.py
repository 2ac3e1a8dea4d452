"""Signing in and out of the console, and the one-time set-password page."""

from __future__ import annotations

import re
from urllib.parse import quote as _quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from web.deps import SessionDep, get_settings_from
from web.ops.pages import SESSION_COOKIE, checked_form, now, page
from worker.ops import accounts

router = APIRouter()
# where a login may send the browser afterwards: console paths only (never another host)
_NEXT = re.compile(r"^/ops/[A-Za-z0-9/_.?=&%+-]*$")


def quote(path: str) -> str:
    return _quote(path, safe="/")


def _next(value: str | None) -> str:
    return value if value and _NEXT.match(value) and "//" not in value else "/ops/"


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return page(request, "ops/login.html", {"next": _next(next), "error": ""}, None)


@router.post("/login", include_in_schema=False)
async def login(request: Request, session: SessionDep) -> Response:
    form = await checked_form(request)
    settings = get_settings_from(request)
    ip = request.client.host if request.client else "unknown"
    email = form.get("email", "")[:320]
    result = accounts.login(session, settings, email, form.get("password", ""), ip, now())
    target = _next(form.get("next"))
    if result.user is None or result.token is None:
        session.commit()  # the failure counts even though the answer is an error page
        context = {"next": target, "error": result.error, "email": email}
        return page(request, "ops/login.html", context, None, status_code=401)
    accounts.audit(session, result.user.email, "login", result.user.email, detail={"ip": ip})
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/ops",
        # a browser session cookie; the server ends it after OPS_SESSION_IDLE_MINUTES idle
    )
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request, session: SessionDep) -> Response:
    await checked_form(request)
    accounts.logout(session, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/ops/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/ops")
    return response


@router.get("/set-password/{token}", response_class=HTMLResponse, include_in_schema=False)
def set_password_page(request: Request, token: str, session: SessionDep) -> HTMLResponse:
    user = accounts.setup_user(session, get_settings_from(request), token)
    if user is None:
        context = {"error": "This link is not valid any more: ask an admin for a new one."}
        return page(request, "ops/set_password.html", context, None, status_code=404)
    return page(request, "ops/set_password.html", {"email": user.email, "error": ""}, None)


@router.post("/set-password/{token}", include_in_schema=False)
async def set_password(request: Request, token: str, session: SessionDep) -> Response:
    form = await checked_form(request)
    user = accounts.setup_user(session, get_settings_from(request), token)
    if user is None:
        context = {"error": "This link is not valid any more: ask an admin for a new one."}
        return page(request, "ops/set_password.html", context, None, status_code=404)
    password = form.get("password", "")
    error = "The two passwords differ." if password != form.get("confirm", "") else ""
    if not error:
        try:
            accounts.set_password(session, user, password)
        except accounts.AccountError as exc:
            error = str(exc)
    if error:
        context = {"email": user.email, "error": error}
        return page(request, "ops/set_password.html", context, None, status_code=400)
    accounts.audit(session, user.email, "set-password", user.email)
    return RedirectResponse("/ops/login", status_code=303)
